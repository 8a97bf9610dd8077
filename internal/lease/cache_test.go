package lease

import (
	"context"
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

// gatedStore holds every transaction until its gate is opened.
type gatedStore struct {
	store.Store
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) Txn(ctx context.Context, fn func(store.Tx) error) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.Store.Txn(ctx, fn)
}

// TestCachedRenewalWaitsForItsLease: a renewal answered from a lease whose
// first write is still being committed is not ACKed before that commit.
func TestCachedRenewalWaitsForItsLease(t *testing.T) {
	var g *gatedStore
	e := newEnvWith(t, func(c *Config, st *store.Store) {
		c.CacheThreshold = 0.25
		g = &gatedStore{Store: *st, entered: make(chan struct{}, 8), gate: make(chan struct{})}
		*st = g
	})
	c := cl(1)
	o := e.offer(net2, c, netip.Addr{})
	order := make(chan string, 2)
	if err := e.m.AckAsync(net2, c, o.IP, func(_ Lease, err error) { order <- "first" }); err != nil {
		t.Fatal(err)
	}
	<-g.entered // its commit has begun, and waits
	if err := e.m.AckAsync(net2, c, o.IP, func(_ Lease, err error) { order <- "cached" }); err != nil {
		t.Fatal(err)
	}
	select {
	case who := <-order:
		t.Fatalf("%s ACKed while the lease's commit had not ended", who)
	case <-time.After(200 * time.Millisecond):
	}
	close(g.gate)
	if a, b := <-order, <-order; a != "first" || b != "cached" {
		t.Errorf("ACK order %s, %s; want first, cached", a, b)
	}
	if got := e.m.Stats().Commits; got != 1 {
		t.Errorf("%d commits, want 1 (the cached renewal needs none)", got)
	}
}
