package storm

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"rackboot/internal/tftp"
)

// serveTFTP runs rackboot's TFTP server on loopback with files.
func serveTFTP(t *testing.T, files fstest.MapFS) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &tftp.Server{Root: files, Timeout: 200 * time.Millisecond, Retries: 10}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, pc); close(done) }()
	t.Cleanup(func() { cancel(); <-done; pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTFTPGet(t *testing.T) {
	ipxe := randomBytes(t, 74213) // undionly.kpxe's size
	exact := randomBytes(t, 1468*3)
	roll := randomBytes(t, 8*70000) // more than 65535 blocks of 8 bytes
	srv := serveTFTP(t, fstest.MapFS{
		"undionly.kpxe": {Data: ipxe},
		"exact":         {Data: exact},
		"roll":          {Data: roll},
		"empty":         {Data: nil},
	})
	for _, tc := range []struct {
		name string
		file string
		want []byte
		o    TFTPOptions
		win  int
	}{
		{"lockstep like a PXE ROM", "undionly.kpxe", ipxe, TFTPOptions{BlockSize: 1468, SizeProbe: true}, 1},
		{"windowsize 8", "undionly.kpxe", ipxe, TFTPOptions{BlockSize: 1468, WindowSize: 8}, 8},
		{"no options: 512-byte blocks", "undionly.kpxe", ipxe, TFTPOptions{}, 1},
		{"size a multiple of the block size", "exact", exact, TFTPOptions{BlockSize: 1468, WindowSize: 4}, 4},
		{"empty file", "empty", nil, TFTPOptions{BlockSize: 1468}, 1},
		{"block numbers roll over", "roll", roll, TFTPOptions{BlockSize: 8, WindowSize: 16}, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Timeout, tc.o.Retries = 500*time.Millisecond, 4
			var buf bytes.Buffer
			s, err := newTFTPSession(context.Background(), netip.MustParseAddr("127.0.0.1"), srv, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			s.sink = &buf
			var res TFTPResult
			if tc.o.SizeProbe {
				if err := tftpProbe(context.Background(), netip.Addr{}, srv, tc.file, tc.o, &res); err != nil {
					t.Fatalf("probe: %v", err)
				}
			}
			opts := [][2]string{{"tsize", "0"}}
			if tc.o.BlockSize > 0 {
				opts = append(opts, [2]string{"blksize", strconv.Itoa(tc.o.BlockSize)})
			}
			if tc.o.WindowSize > 0 {
				opts = append(opts, [2]string{"windowsize", strconv.Itoa(tc.o.WindowSize)})
			}
			err = s.download(tc.file, opts, &res)
			s.close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), tc.want) || res.Size != int64(len(tc.want)) {
				t.Errorf("got %d bytes (size %d), want %d, equal %v", buf.Len(), res.Size, len(tc.want), bytes.Equal(buf.Bytes(), tc.want))
			}
			if res.WindowSize != tc.win {
				t.Errorf("windowsize %d, want %d", res.WindowSize, tc.win)
			}
		})
	}
	t.Run("tftpGet counts what it drops", func(t *testing.T) {
		res, err := tftpGet(context.Background(), netip.Addr{}, srv, "undionly.kpxe",
			TFTPOptions{BlockSize: 1468, SizeProbe: true, Timeout: time.Second, Retries: 3})
		if err != nil || res.Size != int64(len(ipxe)) || res.WireBytes < res.Size {
			t.Errorf("got %+v, %v", res, err)
		}
	})
	t.Run("file not found", func(t *testing.T) {
		_, err := tftpGet(context.Background(), netip.Addr{}, srv, "nope.efi", TFTPOptions{BlockSize: 1468, Timeout: time.Second, Retries: 2})
		if err == nil || !strings.Contains(err.Error(), "TFTP error 1") {
			t.Errorf("error %v, want TFTP error 1 (file not found)", err)
		}
	})
}

// lossyRelay sits between client and server and drops the packets drop
// picks (by direction and count): the retransmission paths of both sides.
type lossyRelay struct {
	conn   *net.UDPConn // the client talks to this
	server netip.AddrPort
	drop   func(toServer bool, n int) bool

	mu     sync.Mutex
	client netip.AddrPort
}

func newLossyRelay(t *testing.T, server netip.AddrPort, drop func(toServer bool, n int) bool) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &lossyRelay{conn: c, server: server, drop: drop}
	t.Cleanup(func() { c.Close() })
	go r.fromClient()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// The relay uses one socket towards the server; the server's transfer port
// is learnt from its first answer and the client sees the relay's port.
func (r *lossyRelay) fromClient() {
	up, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return
	}
	defer up.Close()
	var serverTID netip.AddrPort
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 65536)
		for n := 0; ; n++ {
			k, from, err := up.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			mu.Lock()
			serverTID = from
			mu.Unlock()
			r.mu.Lock()
			client := r.client
			r.mu.Unlock()
			if !r.drop(false, n) {
				r.conn.WriteToUDPAddrPort(buf[:k], client)
			}
		}
	}()
	buf := make([]byte, 65536)
	for n := 0; ; n++ {
		k, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.client = from
		r.mu.Unlock()
		mu.Lock()
		dst := serverTID
		mu.Unlock()
		if !dst.IsValid() {
			dst = r.server
		}
		if !r.drop(true, n) {
			up.WriteToUDPAddrPort(buf[:k], dst)
		}
	}
}

func TestTFTPGetThroughLoss(t *testing.T) {
	file := randomBytes(t, 1468*40+17)
	srv := serveTFTP(t, fstest.MapFS{"f": {Data: file}})
	for _, tc := range []struct {
		name string
		win  int
		drop func(toServer bool, n int) bool
	}{
		// Every 7th ACK lost, twice in a row now and then: the server
		// resends, the client acknowledges the duplicates again.
		{"lockstep, ACKs lost", 1, func(up bool, n int) bool { return up && n > 0 && (n%7 == 0 || n%7 == 1 && n%3 == 0) }},
		{"lockstep, DATA lost", 1, func(up bool, n int) bool { return !up && n > 0 && n%9 == 0 }},
		{"window 8, DATA lost", 8, func(up bool, n int) bool { return !up && n > 0 && n%11 == 0 }},
		{"window 8, ACKs lost", 8, func(up bool, n int) bool { return up && n > 0 && n%3 == 0 }},
		// Packet 1 to the server is the ACK of the OACK: the server
		// resends the OACK, the client acknowledges it again.
		{"ACK of the OACK lost", 1, func(up bool, n int) bool { return up && n == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := newLossyRelay(t, srv, tc.drop)
			res, err := tftpGet(context.Background(), netip.Addr{}, relay, "f",
				TFTPOptions{BlockSize: 1468, WindowSize: tc.win, Timeout: 500 * time.Millisecond, Retries: 20})
			if err != nil {
				t.Fatal(err)
			}
			if res.Size != int64(len(file)) {
				t.Errorf("got %d bytes, want %d", res.Size, len(file))
			}
		})
	}
}
