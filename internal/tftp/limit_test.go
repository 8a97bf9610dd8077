package tftp

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

// clientAt is a test client whose socket is on ip, one of 127.0.0.0/8 (all
// of it is the loopback network on Linux), so that a test has several
// client addresses.
func clientAt(t *testing.T, ip string, server netip.AddrPort) *client {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Skipf("no loopback address %s here (Linux routes all of 127/8 to lo): %v", ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, server: server, buf: make([]byte, 70000)}
}

// started sends an RRQ (asking for tsize, so the server answers with an
// OACK) and waits for the OACK: the transfer is then admitted and running,
// and its client has not answered.
func started(t *testing.T, c *client, file string) {
	t.Helper()
	c.rrq(file, "octet", "tsize", "0")
	parseOACK(t, c.read())
}

// answered acknowledges the OACK and waits for DATA 1: the server has then
// seen the answer, so the transfer can no longer be shed.
func answered(t *testing.T, c *client) {
	t.Helper()
	c.ack(0)
	if k, _ := c.readData(); k != 1 {
		t.Fatalf("DATA %d after ACK 0, want 1", k)
	}
}

// busyReply reads the ERROR a refused request gets.
func busyReply(t *testing.T, c *client) string {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(hangGuard))
	n, _, err := c.conn.ReadFromUDPAddrPort(c.buf)
	if err != nil {
		t.Fatalf("no reply to a refused request: %v", err)
	}
	r, ok := parseReply(c.buf[:n])
	if !ok || r.err == nil {
		t.Fatalf("got %s, want ERROR", describe(c.buf[:n]))
	}
	return r.err.Message
}

var bigFile = fstest.MapFS{"f": {Data: pattern(10 * 512)}}

// TestPerClientCapShedsUnanswered: with a cap of 2 per client, a third
// request from the same address sheds the oldest transfer that never
// answered; another address is not affected; a transfer whose client
// answered is never shed, and when only such are left the request is refused.
func TestPerClientCapShedsUnanswered(t *testing.T) {
	ts := startServer(t, &Server{Root: bigFile, Timeout: never, MaxTransfersPerClient: 2, MaxTransfers: 100})
	flood1, flood2, flood3 := clientAt(t, "127.0.0.2", ts.addr), clientAt(t, "127.0.0.2", ts.addr), clientAt(t, "127.0.0.2", ts.addr)
	other := clientAt(t, "127.0.0.3", ts.addr)
	started(t, flood1, "f")
	started(t, flood2, "f")
	started(t, other, "f")
	if st := ts.srv.Stats(); st.Shed != 0 || st.Refused != 0 || st.Active != 3 {
		t.Fatalf("under the caps: stats %+v", st)
	}
	started(t, flood3, "f") // sheds flood1's, the oldest unanswered of 127.0.0.2
	if st := ts.srv.Stats(); st.Shed != 1 || st.Refused != 0 || st.Active != 3 {
		t.Fatalf("after the third request: stats %+v, want 1 shed, 3 active", st)
	}
	// flood1's transfer is gone: its ACK reaches a closed socket, and
	// flood2 and flood3 can still answer and hold their places.
	answered(t, flood2)
	answered(t, flood3)
	// Both places of 127.0.0.2 are held by clients that answered: refused.
	flood1.tid = netip.AddrPort{}
	flood1.rrq("f", "octet")
	if msg := busyReply(t, flood1); !strings.Contains(msg, "busy") {
		t.Errorf("refusal says %q, want it to say the server is busy", msg)
	}
	if st := ts.srv.Stats(); st.Shed != 1 || st.Refused != 1 || st.Active != 3 || st.Failed != 0 {
		t.Errorf("after the refusal: stats %+v, want 1 shed, 1 refused, 3 active, none failed", st)
	}
	// The other address was never touched: it answers and completes.
	answered(t, other)
	for k := uint16(1); k <= 10; k++ {
		other.ack(k)
		if got, _ := other.readData(); got != k+1 {
			t.Fatalf("DATA %d, want %d", got, k+1)
		}
	}
	other.ack(11)
	if tr := ts.transfer(t); tr.Err != nil || tr.Client != other.addr() {
		t.Errorf("reported %+v, want the other client's transfer, complete", tr)
	}
}

// TestTotalCapShedsOldestUnanswered: with a total cap of 3, a fourth client
// sheds the oldest transfer that never answered, whoever's it is, and when
// every transfer has answered, the next request is refused.
func TestTotalCapShedsOldestUnanswered(t *testing.T) {
	ts := startServer(t, &Server{Root: bigFile, Timeout: never, MaxTransfers: 3})
	a, b, c := clientAt(t, "127.0.0.2", ts.addr), clientAt(t, "127.0.0.3", ts.addr), clientAt(t, "127.0.0.4", ts.addr)
	d, e := clientAt(t, "127.0.0.5", ts.addr), clientAt(t, "127.0.0.6", ts.addr)
	started(t, a, "f")
	started(t, b, "f")
	answered(t, b) // b is real: it must not be shed although older than c
	started(t, c, "f")
	started(t, d, "f") // sheds a, the oldest that never answered
	if st := ts.srv.Stats(); st.Shed != 1 || st.Refused != 0 || st.Active != 3 {
		t.Fatalf("stats %+v, want 1 shed, 3 active", st)
	}
	answered(t, c)
	answered(t, d)
	// Had b or c been shed instead of a, a would still hold a sheddable
	// place and e would get it.
	e.rrq("f", "octet")
	if msg := busyReply(t, e); !strings.Contains(msg, "total") {
		t.Errorf("refusal says %q, want the total limit", msg)
	}
	if st := ts.srv.Stats(); st.Shed != 1 || st.Refused != 1 || st.Active != 3 {
		t.Errorf("stats %+v, want 1 shed, 1 refused, 3 active", st)
	}
}

// TestShedNotReported: a shed transfer is counted, not reported to
// OnTransfer (a flood would make each one a failed boot step), and its
// place frees when its goroutine ends.
func TestShedNotReported(t *testing.T) {
	ts := startServer(t, &Server{Root: bigFile, Timeout: never, MaxTransfersPerClient: 1})
	first, second := clientAt(t, "127.0.0.2", ts.addr), clientAt(t, "127.0.0.2", ts.addr)
	started(t, first, "f")
	second.rrq("f", "octet") // no options: DATA 1 at once; sheds first's
	expectData(t, second, 1)
	second.ack(1)
	expectData(t, second, 2)
	ts.stop(t) // ends second's transfer, the only one reported
	tr := ts.transfer(t)
	if tr.Client != second.addr() || !strings.Contains(tr.Err.Error(), "stopping") {
		t.Errorf("reported %+v, want second's transfer stopped by the server", tr)
	}
	select {
	case tr := <-ts.transfers:
		t.Errorf("also reported %+v; a shed transfer must not be", tr)
	default:
	}
	if st := ts.srv.Stats(); st.Shed != 1 || st.Failed != 1 || st.Active != 0 {
		t.Errorf("stats %+v, want 1 shed, 1 failed (the stopped one), 0 active", st)
	}
}

// countingHandler counts log records at Warn and above.
type countingHandler struct{ warns atomic.Int64 }

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(context.Context, slog.Record) error {
	h.warns.Add(1)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestFloodRealClientCompletes: while one address floods the server with
// read requests from fresh ports that it never answers, a real client on
// another address downloads a file in full. The flood is shed (counted),
// logged at a bounded rate, and never holds more than its cap.
func TestFloodRealClientCompletes(t *testing.T) {
	logs := &countingHandler{}
	const perClient = 4
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(512 << 10)}},
		MaxTransfersPerClient: perClient, Logger: slog.New(logs)})
	start := time.Now()
	var socks []*net.UDPConn
	for range 64 {
		socks = append(socks, clientAt(t, "127.0.0.2", ts.addr).conn)
	}
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		rrq := requestPacket(opRRQ, "f", "octet", "blksize", "1468", "tsize", "0")
		for i := 0; i < 200_000; i++ { // bounded, whatever happens to the real client
			select {
			case <-stop:
				return
			default:
			}
			// Keep at most 128 requests queued in the server's socket, so
			// that the kernel has room for the real client's one request
			// (this test's client does not retransmit it).
			for sent.Load()-ts.srv.Stats().Requests > 128 {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Microsecond):
				}
			}
			if _, err := socks[i%len(socks)].WriteToUDPAddrPort(rrq, ts.addr); err == nil {
				sent.Add(1)
			}
		}
	})
	// Let the flood reach the caps before the real client starts.
	for ts.srv.Stats().Shed == 0 && time.Since(start) < hangGuard {
		time.Sleep(time.Millisecond)
	}
	real := clientAt(t, "127.0.0.3", ts.addr)
	res := real.get("f", getOptions{opts: []string{"blksize", "1468", "windowsize", "4"}})
	stillFlooding := ts.srv.Stats()
	close(stop)
	wg.Wait()
	if !bytes.Equal(res.data, pattern(512<<10)) {
		t.Fatalf("real client got %d bytes, want the %d-byte file", len(res.data), 512<<10)
	}
	for {
		tr := ts.transfer(t)
		if tr.Client == real.addr() {
			if tr.Err != nil {
				t.Errorf("real transfer: %v", tr.Err)
			}
			break
		}
	}
	st := ts.srv.Stats()
	t.Logf("flood: %d requests sent, stats while the real client finished %+v, after %+v", sent.Load(), stillFlooding, st)
	if stillFlooding.Shed == 0 {
		t.Error("nothing shed: the flood never reached the per-client cap, so the test shows nothing")
	}
	if st.Active > perClient+1 || stillFlooding.Active > perClient+1 {
		t.Errorf("%d transfers active, want at most the flood's cap %d plus the real one", max(st.Active, stillFlooding.Active), perClient)
	}
	elapsed := time.Since(start)
	if maxWarns := 1 + int64(elapsed/limitLogEvery); logs.warns.Load() > maxWarns || logs.warns.Load() == 0 {
		t.Errorf("%d warnings in %v for %d shed requests; want 1 to %d (one per %v)",
			logs.warns.Load(), elapsed, st.Shed, maxWarns, limitLogEvery)
	}
}

// TestLimiterBookkeeping: places are given back when transfers end, shed or
// not, and a client's entry goes when its last transfer ends.
func TestLimiterBookkeeping(t *testing.T) {
	l := newLimiter(2, 1)
	cancelled := map[*slot]error{}
	cancel := func(s **slot) context.CancelCauseFunc {
		return func(err error) { cancelled[*s] = err }
	}
	x, y := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	var s1, s2, s3 *slot
	s1 = l.admit(x, cancel(&s1)).slot
	a := l.admit(x, cancel(&s2)) // per-client cap: sheds s1
	s2 = a.slot
	if len(a.victims) != 1 || a.victims[0] != s1 {
		t.Fatalf("victims %v, want s1", a.victims)
	}
	l.answered(s2)
	if a := l.admit(x, cancel(&s3)); a.slot != nil || len(a.victims) != 0 {
		t.Fatalf("admitted past the per-client cap with nothing to shed: %+v", a)
	}
	s3 = l.admit(y, cancel(&s3)).slot
	if s3 == nil {
		t.Fatal("another client refused under the total cap")
	}
	l.release(s1)
	l.release(s2)
	l.release(s3)
	if l.active != 0 || l.live != 0 || len(l.clients) != 0 || l.unanswered.Len() != 0 {
		t.Errorf("after every release: active %d live %d clients %d unanswered %d", l.active, l.live, len(l.clients), l.unanswered.Len())
	}
}
