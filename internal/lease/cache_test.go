package lease

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"rackboot/internal/store"
)

// TestRenewalCache: with CacheThreshold, a renewal in the first part of a
// lease is answered from the lease as it is, with no write; later ones, and
// any that would change the record, are written.
func TestRenewalCache(t *testing.T) {
	e := newEnvWith(t, func(c *Config, _ *store.Store) { c.CacheThreshold = 0.25 }) // net2: 2h leases, 30 min cached
	c := Client{MAC: mac(1), Hostname: "web1"}
	first := e.ack(net2, c, e.offer(net2, c, netip.Addr{}).IP)
	commits := e.m.Stats().Commits

	e.clk.Advance(10 * time.Minute) // a PXE ROM's lease, then its iPXE asking again
	again := e.ack(net2, c, first.IP)
	if !again.Start.Equal(first.Start) || !again.Expires.Equal(first.Expires) || again.IP != first.IP {
		t.Errorf("cached renewal: %+v, want the lease as it was %+v", again, first)
	}
	if got := e.m.Stats().Commits; got != commits {
		t.Errorf("cached renewal committed (%d commits, was %d)", got, commits)
	}

	other := c
	other.Hostname = "web1-renamed"
	if l := e.ack(net2, other, first.IP); l.Hostname != "web1-renamed" || !l.Start.Equal(e.clk.Now()) {
		t.Errorf("renewal with a new host name: %+v, want a new record", l)
	}
	if s, _ := e.stored(first.IP); s.Hostname != "web1-renamed" {
		t.Errorf("stored after the change: %+v", s)
	}

	e.clk.Advance(31 * time.Minute) // past a quarter of 2h since the last write
	commits = e.m.Stats().Commits
	l := e.ack(net2, other, first.IP)
	if !l.Start.Equal(e.clk.Now()) || !l.Expires.Equal(e.clk.Now().Add(2*time.Hour)) {
		t.Errorf("renewal past the threshold: %+v, want a fresh lease", l)
	}
	if got := e.m.Stats().Commits; got != commits+1 {
		t.Errorf("renewal past the threshold: %d commits, want %d", got, commits+1)
	}
	if s, _ := e.stored(first.IP); !s.Expires.Equal(l.Expires) {
		t.Errorf("stored %v, ACKed %v", s.Expires, l.Expires)
	}
}

// TestRenewalCacheOff: without CacheThreshold every renewal is written.
func TestRenewalCacheOff(t *testing.T) {
	e := newEnv(t)
	c := cl(1)
	first := e.ack(net2, c, e.offer(net2, c, netip.Addr{}).IP)
	e.clk.Advance(time.Minute)
	if l := e.ack(net2, c, first.IP); !l.Start.Equal(e.clk.Now()) {
		t.Errorf("renewal: %+v, want a fresh lease", l)
	}
}

// gatedStore holds every transaction until its gate is opened, and fails
// it when fail holds an error.
type gatedStore struct {
	store.Store
	entered chan struct{}
	gate    chan struct{}
	fail    error
}

func (g *gatedStore) Txn(ctx context.Context, fn func(store.Tx) error) error {
	g.entered <- struct{}{}
	<-g.gate
	if g.fail != nil {
		return g.fail
	}
	return g.Store.Txn(ctx, fn)
}

func newGatedEnv(t *testing.T) (*env, *gatedStore) {
	var g *gatedStore
	e := newEnvWith(t, func(c *Config, st *store.Store) {
		c.CacheThreshold = 0.25
		g = &gatedStore{Store: *st, entered: make(chan struct{}, 8), gate: make(chan struct{})}
		*st = g
	})
	return e, g
}

// TestCachedRenewalWaitsForItsLease: a renewal of a lease whose first write
// is still being committed is not answered from memory: it is written
// again, and ACKed after both commits.
func TestCachedRenewalWaitsForItsLease(t *testing.T) {
	e, g := newGatedEnv(t)
	c := cl(1)
	o := e.offer(net2, c, netip.Addr{})
	order := make(chan string, 2)
	if err := e.m.AckAsync(net2, c, o.IP, func(_ Lease, err error) { order <- "first" }); err != nil {
		t.Fatal(err)
	}
	<-g.entered // its commit has begun, and waits
	if err := e.m.AckAsync(net2, c, o.IP, func(_ Lease, err error) { order <- "renewal" }); err != nil {
		t.Fatal(err)
	}
	select {
	case who := <-order:
		t.Fatalf("%s ACKed while the lease's commit had not ended", who)
	case <-time.After(200 * time.Millisecond):
	}
	close(g.gate)
	if a, b := <-order, <-order; a != "first" || b != "renewal" {
		t.Errorf("ACK order %s, %s; want first, renewal", a, b)
	}
	if got := e.m.Stats().Commits; got != 2 {
		t.Errorf("%d commits, want 2 (the renewal of a lease not yet durable is written)", got)
	}
}

// TestDurableRenewalDoesNotQueue: a renewal answered from a durable lease
// does not wait behind other clients' writes: it is answered before
// AckAsync returns, while another client's commit is held.
func TestDurableRenewalDoesNotQueue(t *testing.T) {
	e, g := newGatedEnv(t)
	a, b := cl(1), cl(2)
	oa := e.offer(net2, a, netip.Addr{})
	first := make(chan error, 1)
	if err := e.m.AckAsync(net2, a, oa.IP, func(_ Lease, err error) { first <- err }); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.gate <- struct{}{} // a's lease commits
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	ob := e.offer(net2, b, netip.Addr{})
	if err := e.m.AckAsync(net2, b, ob.IP, func(Lease, error) {}); err != nil {
		t.Fatal(err)
	}
	<-g.entered // b's commit has begun, and waits
	answered := false
	if err := e.m.AckAsync(net2, a, oa.IP, func(l Lease, err error) { answered = err == nil && l.IP == oa.IP }); err != nil {
		t.Fatal(err)
	}
	if !answered {
		t.Error("a's renewal waited for b's commit")
	}
	if got := e.m.Stats().Commits; got != 1 {
		t.Errorf("%d commits finished, want 1 (a's renewal needs none)", got)
	}
	close(g.gate)
}

// TestNoCacheAfterFailedCommit: when a commit fails, the leases it held are
// in memory but not on disk, so their clients' next requests are written
// again, not answered from memory.
func TestNoCacheAfterFailedCommit(t *testing.T) {
	e, g := newGatedEnv(t)
	g.fail = errors.New("disk full")
	c := cl(1)
	o := e.offer(net2, c, netip.Addr{})
	got := make(chan error, 1)
	if err := e.m.AckAsync(net2, c, o.IP, func(_ Lease, err error) { got <- err }); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.gate <- struct{}{}
	if err := <-got; err == nil {
		t.Fatal("ACK of a lease whose commit failed")
	}

	g.fail = nil // the disk is back; the client asks again
	answered := false
	if err := e.m.AckAsync(net2, c, o.IP, func(_ Lease, err error) { answered = true; got <- err }); err != nil {
		t.Fatal(err)
	}
	if answered {
		t.Fatal("the renewal of a lease that is not on disk was answered from memory")
	}
	<-g.entered
	close(g.gate)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if s, ok := e.stored(o.IP); !ok || s.State != Bound {
		t.Errorf("stored after the retry: %+v, %v", s, ok)
	}
}
