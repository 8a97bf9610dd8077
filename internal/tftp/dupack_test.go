package tftp

import (
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// fakeClock is the server's clock in these tests; the retransmit timer
// (Timeout: never) does not fire, so every packet the server sends is an
// answer to one the test sent, and "a timeout later" is a step of this clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// synced returns once the transfer has handled every packet c sent before:
// the transfer's socket reads in order, and answers a packet from another
// port with ERROR 5 (RFC 1350 §4).
func synced(t *testing.T, c *client) {
	t.Helper()
	probe := newClient(t, c.server)
	probe.tid = c.tid
	probe.ack(0)
	if code, _ := probe.readError(); code != codeUnknownTID {
		t.Fatalf("probe got ERROR %d, want 5", code)
	}
}

// TestLateDuplicateAckResends: in lockstep, a client that lost a DATA
// packet times out and repeats its last ACK. A repeat that comes a timeout
// or more after the server sent the block is answered at once with the
// block (the client timed out: RFC 1123 §4.2.3.2, RFC 7440 §4); one that
// comes sooner is ignored, so duplicates never multiply (the Sorcerer's
// Apprentice, RFC 1123 §4.2.3.1).
func TestLateDuplicateAckResends(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(3 * 512)}}, Timeout: never, now: clock.Now})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet")
	expectData(t, c, 1) // lost, says the test: the client will ACK 0 again
	for _, last := range []uint16{0, 1} {
		c.ack(last) // at once: ignored
		synced(t, c)
		clock.advance(never + time.Second)
		c.ack(last)              // a timeout later: answered
		expectData(t, c, last+1) // the lost block, once
		c.ack(last + 1)          // received this time
		expectData(t, c, last+2) // the next block; DATA 2 is lost too
	}
	c.ack(3)
	expectData(t, c, 4)
	c.ack(4)
	if tr := ts.transfer(t); tr.Err != nil || tr.Size != 3*512 {
		t.Errorf("reported %+v", tr)
	}
}

// TestLateDuplicateAckWindow: with a window of 4 whose first block is lost,
// the client answers each later block with a duplicate ACK at once (RFC 7440
// §4); those are ignored, and only its repeat after its own timeout brings
// the window again, once.
func TestLateDuplicateAckWindow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: pattern(8 * 512)}}, Timeout: never, now: clock.Now})
	c := newClient(t, ts.addr)
	c.rrq("f", "octet", "windowsize", "4")
	parseOACK(t, c.read())
	c.ack(0)
	expectData(t, c, 1, 2, 3, 4) // 1 lost: 2, 3 and 4 each bring an ACK 0
	c.ack(0)
	c.ack(0)
	c.ack(0)
	synced(t, c)
	clock.advance(never + time.Second)
	c.ack(0) // the client's timeout
	expectData(t, c, 1, 2, 3, 4)
	c.ack(4)
	expectData(t, c, 5, 6, 7, 8)
	c.ack(8)
	expectData(t, c, 9)
	c.ack(9)
	if tr := ts.transfer(t); tr.Err != nil || tr.Size != 8*512 {
		t.Errorf("reported %+v", tr)
	}
}
