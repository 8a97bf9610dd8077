package tftp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"
)

// never is a retransmit timeout that does not fire during a test, so that
// every packet the server sends is a reaction to one the test sent.
const never = time.Hour

func expectData(t *testing.T, c *client, want ...uint16) {
	t.Helper()
	for _, w := range want {
		if got, _ := c.readData(); got != w {
			t.Fatalf("DATA %d, want %d", got, w)
		}
	}
}

// TestPartialWindowAck: an ACK inside the window starts the next window
// after the acknowledged block (RFC 7440 §4).
func TestPartialWindowAck(t *testing.T) {
	data := pattern(64) // 8 blocks of 8 bytes, then an empty block 9
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: data}}, Timeout: never})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet", "blksize", "8", "windowsize", "4")
	if oack := parseOACK(t, c.read()); oack["windowsize"] != "4" {
		t.Fatalf("OACK %v", oack)
	}
	c.ack(0)
	expectData(t, c, 1, 2, 3, 4)
	c.ack(2) // as if 3 was lost
	expectData(t, c, 3, 4, 5, 6)
	c.ack(6)
	expectData(t, c, 7, 8, 9)
	c.ack(9)
	if tr := ts.transfer(t); tr.Err != nil || tr.Size != 64 || tr.WindowSize != 4 {
		t.Errorf("reported %+v", tr)
	}
}

// TestOldAckIgnored: duplicate and stale ACKs send nothing (no Sorcerer's
// Apprentice), and an ACK from beyond the window is ignored too.
func TestOldAckIgnored(t *testing.T) {
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(3 * 512)}}, Timeout: never})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet")
	expectData(t, c, 1)
	c.ack(1)
	expectData(t, c, 2)
	c.ack(1)   // duplicate
	c.ack(0)   // stale
	c.ack(700) // not sent yet
	c.ack(2)
	expectData(t, c, 3) // and not 2 again
	c.ack(3)
	expectData(t, c, 4)
	c.ack(4)
	if tr := ts.transfer(t); tr.Err != nil {
		t.Errorf("transfer failed: %v", tr.Err)
	}
}

// TestForeignTID: a packet from another port gets ERROR 5 and the transfer
// goes on (RFC 1350 §4).
func TestForeignTID(t *testing.T) {
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(700)}}, Timeout: never})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet")
	expectData(t, c, 1)
	intruder := newClient(t, ts.addr)
	intruder.tid = c.tid
	intruder.ack(1)
	if code, _ := intruder.readError(); code != codeUnknownTID {
		t.Errorf("intruder got ERROR %d, want 5", code)
	}
	c.ack(1)
	expectData(t, c, 2)
	c.ack(2)
	if tr := ts.transfer(t); tr.Err != nil {
		t.Errorf("transfer failed: %v", tr.Err)
	}
}

// TestClientAborts: an ERROR from the client ends the transfer at once.
func TestClientAborts(t *testing.T) {
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(5000)}}, Timeout: never})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet")
	expectData(t, c, 1)
	c.ack(1)
	expectData(t, c, 2)
	c.send(encodeError(codeUndefined, "user pressed ctrl-c"))
	tr := ts.transfer(t)
	var ce *ClientError
	if !errors.As(tr.Err, &ce) || ce.Message != "user pressed ctrl-c" || tr.Size != 512 {
		t.Errorf("reported %+v, want the client's error after 512 bytes", tr)
	}
	if st := ts.srv.Stats(); st.Failed != 1 || st.Bytes != 512 {
		t.Errorf("stats %+v", st)
	}
}

// TestOptionsDeclined: PXE ROMs ask for tsize, then answer the OACK with an
// ERROR; that is not counted as a failure.
func TestOptionsDeclined(t *testing.T) {
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(5000)}}, Timeout: never})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet", "tsize", "0", "blksize", "1456")
	if oack := parseOACK(t, c.read()); oack["tsize"] != "5000" || oack["blksize"] != "1456" {
		t.Fatalf("OACK %v", oack)
	}
	c.send(encodeError(codeOptions, "tsize only"))
	if tr := ts.transfer(t); !errors.Is(tr.Err, ErrOptionsDeclined) {
		t.Errorf("reported %v, want ErrOptionsDeclined", tr.Err)
	}
	if st := ts.srv.Stats(); st.Declined != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestGivesUp: a client that never ACKs gets the block Retries more times,
// then the transfer ends with ErrTimeout.
func TestGivesUp(t *testing.T) {
	for _, opts := range [][]string{nil, {"blksize", "1024"}} {
		ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(5000)}},
			Timeout: time.Millisecond, Retries: 2})
		c := newClient(t, ts.addr)
		c.rrq("f", "octet", opts...)
		tr := ts.transfer(t)
		if !errors.Is(tr.Err, ErrTimeout) {
			t.Errorf("%v: reported %v, want ErrTimeout", opts, tr.Err)
		}
		// Every packet was sent before the report: they are all queued.
		for range 3 {
			if p := c.read(); !bytes.HasPrefix(p, []byte{0, 3, 0, 1}) && !bytes.HasPrefix(p, []byte{0, 6}) {
				t.Errorf("%v: got %s, want DATA 1 or OACK", opts, describe(p))
			}
		}
	}
}

// TestCancelStopsTransfers: cancelling Serve's context ends running
// transfers, and Serve returns only after their goroutines are done.
func TestCancelStopsTransfers(t *testing.T) {
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(5000)}}, Timeout: never})
	var clients []*client
	for range 3 {
		c := newClient(t, ts.addr)
		c.rrq("f", "octet")
		expectData(t, c, 1) // the transfer is running, waiting for ACK 1
		clients = append(clients, c)
	}
	ts.stop(t) // waits for Serve, which waits for the transfers
	for range clients {
		select {
		case tr := <-ts.transfers:
			if !errors.Is(tr.Err, context.Canceled) {
				t.Errorf("reported %v, want context.Canceled", tr.Err)
			}
		default:
			t.Fatal("Serve returned before a transfer ended")
		}
	}
}

// TestListenAndServe serves from a socket it opens and stops on cancel.
func TestListenAndServe(t *testing.T) {
	// Find a free port; a race for it with another process is harmless here.
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.LocalAddr().(*net.UDPAddr).AddrPort()
	probe.Close()
	s := &Server{Root: fstest.MapFS{"f": {Data: []byte("via ListenAndServe")}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, addr.String()) }()
	c := newClient(t, addr)
	c.rrq("f", "octet")
	// The listener may not be up yet: resend the request until it answers.
	buf := make([]byte, 600)
	for !c.tid.IsValid() {
		_ = c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, from, err := c.conn.ReadFromUDPAddrPort(buf); err == nil && string(buf[4:n]) == "via ListenAndServe" {
			c.tid = from
		} else {
			c.rrq("f", "octet")
		}
	}
	c.ack(1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
	if err := s.ListenAndServe(context.Background(), "127.0.0.1:notaport"); err == nil {
		t.Error("ListenAndServe on a bad address: no error")
	}
}

// TestDestinationAddress: a socket bound to the unspecified address learns
// each request's destination. Tested on 127.0.0.1, where the answer is known.
func TestDestinationAddress(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := newDstConn(conn)
	if rc == nil {
		t.Skip("this platform does not report destination addresses")
	}
	c := newClient(t, conn.LocalAddr().(*net.UDPAddr).AddrPort())
	c.rrq("f", "octet")
	_ = conn.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 100)
	n, peer, local, err := rc.readRequest(buf)
	if err != nil {
		t.Fatal(err)
	}
	if peer != c.addr() || local != netip.MustParseAddr("127.0.0.1") || n != len(requestPacket(opRRQ, "f", "octet")) {
		t.Errorf("read %d bytes from %v to %v; want from %v to 127.0.0.1", n, peer, local, c.addr())
	}
	tc, err := listenTransfer(local, peer)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got := tc.LocalAddr().(*net.UDPAddr).AddrPort().Addr(); got != local {
		t.Errorf("transfer socket on %v, want %v", got, local)
	}
}
