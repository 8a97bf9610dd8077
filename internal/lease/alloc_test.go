package lease

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"rackboot/internal/store"
)

// nthClient is a client with a MAC made from n, for tests with many.
func nthClient(n int) Client {
	return Client{MAC: net.HardwareAddr{0x02, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}}
}

// bigEnv is a Manager over one subnet whose pool is all of it.
func bigEnv(t *testing.T, prefix string, maxOffers int) (*env, netip.Prefix) {
	p := netip.MustParsePrefix(prefix)
	e := newEnvWith(t, func(c *Config, _ *store.Store) {
		c.Subnets = []Subnet{{Prefix: p, LeaseTime: time.Hour,
			Pools: []Range{{addrOf(u32(p.Addr()) + 1), addrOf(u32(lastAddr(p)) - 1)}}}}
		c.Exclude = nil
		c.MaxOffers = maxOffers
	})
	return e, p
}

// probesOf counts the addresses allocate looked at during f.
func probesOf(e *env, f func()) uint64 {
	e.m.mu.Lock()
	before := e.m.probes
	e.m.mu.Unlock()
	f()
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	return e.m.probes - before
}

// fill leases every address of a pool of size n to clients 0..n-1, one
// millisecond apart, without waiting for each commit.
func fill(t *testing.T, e *env, p netip.Prefix, n int) {
	t.Helper()
	var last chan error
	for i := range n {
		c := nthClient(i)
		o := e.offer(p, c, netip.Addr{})
		ch := make(chan error, 1)
		if err := e.m.AckAsync(p, c, o.IP, func(_ Lease, err error) { ch <- err }); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
		last = ch
		e.clk.Advance(time.Millisecond)
	}
	if err := <-last; err != nil {
		t.Fatal(err)
	}
}

// TestAllocationDoesNotScan counts the addresses looked at per allocation
// in a full /16: the first version scanned all 65 534 for every DISCOVER
// once the pool was full.
func TestAllocationDoesNotScan(t *testing.T) {
	e, p := bigEnv(t, "10.3.0.0/16", 0)
	const size = 65534
	if probes := probesOf(e, func() { fill(t, e, p, size) }); probes > size {
		t.Errorf("filling the pool looked at %d addresses for %d leases, want at most one each", probes, size)
	}

	// Full of leases: a flood of new clients is refused, each in O(1).
	const flood = 1000
	probes := probesOf(e, func() {
		for i := size; i < size+flood; i++ {
			if _, err := e.m.Offer(p, nthClient(i), netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
				t.Fatalf("client %d in a full pool: %v, want exhausted", i, err)
			}
		}
	})
	if probes > 2*flood {
		t.Errorf("%d refusals in a full pool looked at %d addresses, want at most 2 each", flood, probes)
	}
	if u := e.m.Usage()[0]; u.Exhausted != flood {
		t.Errorf("exhausted count %d, want %d", u.Exhausted, flood)
	}

	// The first ten leases expire: new clients get them, oldest first,
	// still without a scan.
	e.clk.Advance(time.Hour - size*time.Millisecond + 10*time.Millisecond)
	probes = probesOf(e, func() {
		for i := range 10 {
			o := e.offer(p, nthClient(size+flood+i), netip.Addr{})
			if want := addrOf(u32(p.Addr()) + 1 + uint32(i)); o.IP != want {
				t.Errorf("after expiry, new client %d got %v, want %v (expired longest ago)", i, o.IP, want)
			}
		}
	})
	if probes > 2*10+2 {
		t.Errorf("10 offers of expired addresses looked at %d addresses", probes)
	}
}

// TestOffersFloodSmallPool: a /24 flooded with DISCOVERs from ten times as
// many clients as it has addresses, none of which REQUESTs: each new client
// gets the oldest offer, in O(1), and a genuine client that REQUESTs its offer
// at once gets its lease.
func TestOffersFloodSmallPool(t *testing.T) {
	e, p := bigEnv(t, "10.4.0.0/24", 0)
	const flood = 2540
	probes := probesOf(e, func() {
		for i := range flood {
			if _, err := e.m.Offer(p, nthClient(i), netip.Addr{}); err != nil {
				t.Fatalf("flood client %d: %v", i, err)
			}
		}
	})
	if probes > 2*flood {
		t.Errorf("%d offers looked at %d addresses, want at most 2 each", flood, probes)
	}
	u := e.m.Usage()[0]
	if u.Leases[Offered] != 254 || u.OffersTaken != flood-254 {
		t.Errorf("offered %d, taken %d; want 254 held and %d taken", u.Leases[Offered], u.OffersTaken, flood-254)
	}
	genuine := nthClient(1 << 20)
	o := e.offer(p, genuine, netip.Addr{})
	if l := e.ack(p, genuine, o.IP); l.State != Bound {
		t.Errorf("genuine client's lease: %+v", l)
	}
	// Client 253 was offered the last address, which was taken from it
	// nine times over since; its late REQUEST still wins over the flood's
	// offers, which hold nothing.
	last := addrOf(u32(p.Addr()) + 254)
	if l := e.ack(p, nthClient(253), last); l.IP != last {
		t.Errorf("REQUEST after the offer was taken: %+v", l)
	}
}

// TestOffersCapped: a /8 pool, far bigger than any flood, holds at most
// MaxOffers offers; the oldest are dropped, and each offer costs O(1).
func TestOffersCapped(t *testing.T) {
	e, p := bigEnv(t, "10.0.0.0/8", 1000)
	const flood = 100000
	probes := probesOf(e, func() {
		for i := range flood {
			if _, err := e.m.Offer(p, nthClient(i), netip.Addr{}); err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
		}
	})
	if probes > 2*flood {
		t.Errorf("%d offers in a /8 looked at %d addresses, want at most 2 each", flood, probes)
	}
	u := e.m.Usage()[0]
	if u.Leases[Offered] != 1000 || u.OffersDropped != flood-1000 {
		t.Errorf("held %d offers, dropped %d; want 1000 and %d", u.Leases[Offered], u.OffersDropped, flood-1000)
	}
	e.m.mu.Lock()
	held := len(e.m.offers)
	e.m.mu.Unlock()
	if held != 1000 {
		t.Errorf("%d offers in memory, want 1000", held)
	}
	// A dropped offer's client still gets its address while it is free.
	first := addrOf(u32(p.Addr()) + 1)
	if l := e.ack(p, nthClient(0), first); l.IP != first {
		t.Errorf("dropped offer REQUESTed: %+v", l)
	}
}

// TestAllocationOrderAfterRestart: records read at Open are queued in the
// order they became free, declined addresses only once their quarantine is
// over, and reserved or excluded ones never.
func TestAllocationOrderAfterRestart(t *testing.T) {
	e := newEnv(t) // net1: pool .10-.13, .11 excluded, .5 reserved outside the pool
	e.ack(net1, cl(1), ip("10.1.0.10"))
	e.clk.Advance(time.Minute)
	e.ack(net1, cl(2), ip("10.1.0.12"))
	e.ack(net1, cl(3), ip("10.1.0.13"))
	if err := e.m.Decline(ctx, cl(3), ip("10.1.0.13")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if _, err := e.m.Offer(net1, cl(4), netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("all bound or declined after restart: %v, want exhausted", err)
	}
	// An hour on: the quarantine of .13 ended 50 minutes ago, .10 expired
	// a minute ago, .12 just now.
	e.clk.Advance(time.Hour)
	for i, want := range []string{"10.1.0.13", "10.1.0.10", "10.1.0.12"} {
		o := e.offer(net1, cl(byte(10+i)), netip.Addr{})
		if o.IP != ip(want) {
			t.Errorf("offer %d after restart: %v, want %s", i, o.IP, want)
		}
		e.ack(net1, cl(byte(10+i)), o.IP)
		e.clk.Advance(time.Minute)
	}
}
