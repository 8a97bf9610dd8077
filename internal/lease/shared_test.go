package lease

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"rackboot/internal/store/etcdstore"
	"rackboot/internal/store/etcdstore/etcdtest"
)

// Two lease managers on one real etcd: the servers of dhcp.mode full,
// active-active (shared.go).

var sharedNet = netip.MustParsePrefix("10.9.0.0/24")

func sharedConfig(spread string) Config {
	return Config{
		Subnets: []Subnet{{Prefix: sharedNet, LeaseTime: time.Hour,
			Pools: []Range{{ip("10.9.0.10"), ip("10.9.0.209")}}}}, // 200 addresses
		CacheThreshold: 0.25,
		Spread:         spread,
	}
}

func openShared(t *testing.T, endpoints []string, cfg Config, timeout time.Duration) (*Manager, *etcdstore.Store) {
	t.Helper()
	st, err := etcdstore.Open(ctx, etcdstore.Options{Endpoints: endpoints, Prefix: "/lease-test/", RequestTimeout: timeout, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); st.Close() })
	return m, st
}

func sharedClient(i int) Client {
	return Client{MAC: net.HardwareAddr{0x52, 0x54, 0x01, 0, byte(i >> 8), byte(i)}}
}

// ackRecord is one ACK a client got, from which server.
type ackRecord struct {
	client int
	server int
	l      Lease
}

// checkNoDouble fails t if an address was ACKed to two clients whose
// leases overlap in time.
func checkNoDouble(t *testing.T, acks []ackRecord) {
	t.Helper()
	by := map[netip.Addr][]ackRecord{}
	for _, a := range acks {
		by[a.l.IP] = append(by[a.l.IP], a)
	}
	for ipa, as := range by {
		for i := range as {
			for j := i + 1; j < len(as); j++ {
				a, b := as[i], as[j]
				if a.client != b.client && a.l.Start.Before(b.l.Expires) && b.l.Start.Before(a.l.Expires) {
					t.Errorf("%v ACKed to client %d (server %d, %v-%v) and client %d (server %d, %v-%v)", ipa,
						a.client, a.server, a.l.Start.Format(time.StampMicro), a.l.Expires.Format(time.StampMicro),
						b.client, b.server, b.l.Start.Format(time.StampMicro), b.l.Expires.Format(time.StampMicro))
				}
			}
		}
	}
}

// TestSharedNoAddressTwice: 180 clients in a pool of 200, each DISCOVERs
// from both servers at once and REQUESTs the offer of one of them, as
// clients do when two servers answer; a NAK starts it over. Both servers
// walk the pool from the same place (no Spread), so they offer the same
// addresses and their REQUESTs race. No address is ACKed to two clients,
// the races are counted, and each server learns the other's leases.
func TestSharedNoAddressTwice(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a, _ := openShared(t, c.Endpoints(), sharedConfig(""), 5*time.Second)
	b, st := openShared(t, c.Endpoints(), sharedConfig(""), 5*time.Second)
	ms := []*Manager{a, b}

	const clients = 180
	var mu sync.Mutex
	var acks []ackRecord
	naks := 0
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := sharedClient(i)
			for try := 0; try < 20; try++ {
				// Both servers answer the DISCOVER; the client takes
				// one offer (its REQUEST names that server).
				var offers [2]Offer
				var errs [2]error
				first := rand.IntN(2)
				for _, s := range []int{first, 1 - first} {
					offers[s], errs[s] = ms[s].Offer(sharedNet, cli, netip.Addr{})
				}
				s := rand.IntN(2)
				if errs[s] != nil {
					s = 1 - s
				}
				if errs[s] != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l, err := ms[s].Ack(ctx, sharedNet, cli, offers[s].IP)
				if errors.Is(err, ErrNotAvailable) {
					mu.Lock()
					naks++
					mu.Unlock()
					continue // NAK: the client starts over
				}
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				mu.Lock()
				acks = append(acks, ackRecord{client: i, server: s, l: l})
				mu.Unlock()
				// The iPXE it loads asks again, of either server.
				// A NAK is allowed (that server's memory may still hold a
				// write of its own for that address, for another client,
				// that is about to lose): never an ACK of a taken address.
				s2 := rand.IntN(2)
				l2, err := ms[s2].Ack(ctx, sharedNet, cli, l.IP)
				if errors.Is(err, ErrNotAvailable) {
					mu.Lock()
					naks++
					mu.Unlock()
					return
				}
				if err != nil {
					t.Errorf("client %d: renewal of %v on server %d: %v", i, l.IP, s2, err)
					return
				}
				mu.Lock()
				acks = append(acks, ackRecord{client: i, server: s2, l: l2})
				mu.Unlock()
				return
			}
			t.Errorf("client %d got no lease in 20 tries", i)
		}()
	}
	wg.Wait()
	checkNoDouble(t, acks)

	// What etcd holds: one bound lease per client.
	stored, err := List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]netip.Addr{}
	for _, l := range stored {
		if l.State != Bound {
			continue
		}
		if prev, ok := owner[l.MAC.String()]; ok {
			t.Errorf("client %v holds %v and %v", l.MAC, prev, l.IP)
		}
		owner[l.MAC.String()] = l.IP
	}
	if len(owner) != clients {
		t.Errorf("%d clients hold a lease in etcd, want %d", len(owner), clients)
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("ACKs %d, NAKs %d; conflicts a=%d b=%d; remote writes taken a=%d b=%d; commits a=%d b=%d (writes %d, %d)",
		len(acks), naks, sa.Conflicts, sb.Conflicts, sa.Remote, sb.Remote, sa.Commits, sb.Commits, sa.Writes, sb.Writes)
	if sa.Conflicts+sb.Conflicts == 0 {
		t.Errorf("no conflict counted: the servers offered the same addresses, and some REQUESTs must have raced")
	}
	// Each server learns the other's leases by the watch: both hold what
	// etcd holds.
	want := leaseText(stored)
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range ms {
		for leaseText(m.List()) != want {
			if time.Now().After(deadline) {
				t.Fatalf("a server's leases differ from etcd's:\n%v\nwant\n%v", leaseText(m.List()), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if sa.Remote == 0 || sb.Remote == 0 {
		t.Errorf("remote writes taken: a=%d b=%d, want both > 0", sa.Remote, sb.Remote)
	}
}

func leaseText(ls []Lease) string {
	var b []byte
	for _, l := range ls {
		b = fmt.Appendf(b, "%v %v %v %s %s\n", l.IP, l.MAC, l.State, l.Start.Format(time.RFC3339Nano), l.Expires.Format(time.RFC3339Nano))
	}
	return string(b)
}

// TestSharedSpreadAvoidsRaces: with Spread (the servers' names), the same
// storm of REQUESTs races far less.
func TestSharedSpreadAvoidsRaces(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a, _ := openShared(t, c.Endpoints(), sharedConfig("rackboot-a"), 5*time.Second)
	b, _ := openShared(t, c.Endpoints(), sharedConfig("rackboot-b"), 5*time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acks []ackRecord
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, s := a, 0
			if i%2 == 1 {
				m, s = b, 1
			}
			for try := 0; try < 10; try++ {
				o, err := m.Offer(sharedNet, sharedClient(i), netip.Addr{})
				if err != nil {
					t.Error(err)
					return
				}
				l, err := m.Ack(ctx, sharedNet, sharedClient(i), o.IP)
				if errors.Is(err, ErrNotAvailable) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acks = append(acks, ackRecord{client: i, server: s, l: l})
				mu.Unlock()
				return
			}
		}()
	}
	wg.Wait()
	checkNoDouble(t, acks)
	if len(acks) != 100 {
		t.Errorf("%d clients bound, want 100", len(acks))
	}
	t.Logf("conflicts: a=%d b=%d", a.Stats().Conflicts, b.Stats().Conflicts)
}

// TestSharedQuorumLoss: two of three etcd members killed. Renewals of
// leases the servers know are ACKed from memory with their time left, new
// leases are refused with an error that says the store is unavailable, and
// counted; once the members are back, new leases are granted again, and
// the other server learns them.
func TestSharedQuorumLoss(t *testing.T) {
	c := etcdtest.Start(t, 3)
	cfgA, cfgB := sharedConfig("a"), sharedConfig("b")
	cfgA.CacheThreshold, cfgB.CacheThreshold = 0, 0 // every renewal writes, and falls back when it cannot
	a, _ := openShared(t, c.Endpoints(), cfgA, 2*time.Second)
	b, _ := openShared(t, c.Endpoints(), cfgB, 2*time.Second)

	var leases []Lease
	for i := range 4 {
		m := a
		if i%2 == 1 {
			m = b
		}
		o, err := m.Offer(sharedNet, sharedClient(i), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.Ack(ctx, sharedNet, sharedClient(i), o.IP)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	waitRemote(t, a, leases[1].IP)
	waitRemote(t, b, leases[0].IP)

	c.Kill(1)
	c.Kill(2)

	// A renewal of its own lease, and of one the other server ACKed.
	for _, tc := range []struct {
		m *Manager
		i int
	}{{a, 0}, {a, 1}, {b, 0}} {
		start := time.Now()
		l, err := tc.m.Ack(ctx, sharedNet, sharedClient(tc.i), leases[tc.i].IP)
		if err != nil {
			t.Fatalf("renewal of client %d's %v without quorum: %v", tc.i, leases[tc.i].IP, err)
		}
		if !l.Expires.Equal(leases[tc.i].Expires) {
			t.Errorf("offline renewal expires %v, want the stored lease's %v (not extended)", l.Expires, leases[tc.i].Expires)
		}
		t.Logf("offline renewal of %v answered in %v", l.IP, time.Since(start).Round(time.Millisecond))
	}
	// Now that the store is known down, a renewal is answered at once.
	start := time.Now()
	if _, err := a.Ack(ctx, sharedNet, sharedClient(1), leases[1].IP); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("renewal while the store is down took %v, want it from memory", d)
	}
	// A new lease is refused, with the reason.
	o, err := a.Offer(sharedNet, sharedClient(50), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Ack(ctx, sharedNet, sharedClient(50), o.IP)
	if !errors.Is(err, etcdstore.ErrUnavailable) {
		t.Fatalf("new lease without quorum: %v, want etcd unavailable", err)
	}
	t.Logf("refused: %v", err)
	if st := a.Stats(); st.Refused == 0 || st.OfflineRenewals == 0 {
		t.Errorf("stats %+v: want refused and offline renewals counted", st)
	}

	c.Resume(1)
	c.Resume(2)
	c.WaitHealthy(1)
	c.WaitHealthy(2)

	// Back: the new lease is granted, and the other server learns it.
	deadline := time.Now().Add(30 * time.Second)
	var l Lease
	for {
		o, err := a.Offer(sharedNet, sharedClient(50), netip.Addr{})
		if err == nil {
			l, err = a.Ack(ctx, sharedNet, sharedClient(50), o.IP)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new lease after quorum came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitRemote(t, b, l.IP)
	// And a renewal is written again (extended).
	time.Sleep(10 * time.Millisecond)
	// (on a, whose last commit succeeded: b answers renewals from memory
	// for up to 10 s after its last failed commit).
	r, err := a.Ack(ctx, sharedNet, sharedClient(0), leases[0].IP)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Expires.After(leases[0].Expires) {
		t.Errorf("renewal after recovery not extended: %v", r.Expires)
	}
	waitRemote(t, b, leases[0].IP)
}

// waitRemote waits until m's record of addr is what the store holds.
func waitRemote(t *testing.T, m *Manager, addr netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		k, ok := m.sh.known[addr]
		r := m.records[addr]
		m.mu.Unlock()
		if ok && k.l != nil && r == k.l {
			kv, err := m.st.Get(ctx, leaseKey(addr))
			if err == nil && kv.Revision == k.mod {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server never learned the stored lease of %v", addr)
}

// TestSharedSharesDisjoint: two servers that walk their own share of the
// pool first (Config.Share: rank 0 and 1 of 2) hand out disjoint addresses,
// so no REQUEST loses a race and no client is NAKed, whatever their names
// (these two start their Spread walks close together).
func TestSharedSharesDisjoint(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cfgA, cfgB := sharedConfig("storm-a"), sharedConfig("storm-b")
	cfgA.Share = func() (int, int) { return 0, 2 }
	cfgB.Share = func() (int, int) { return 1, 2 }
	a, _ := openShared(t, c.Endpoints(), cfgA, 5*time.Second)
	b, _ := openShared(t, c.Endpoints(), cfgB, 5*time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acks []ackRecord
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, s := a, 0
			if i%2 == 1 {
				m, s = b, 1
			}
			o, err := m.Offer(sharedNet, sharedClient(i), netip.Addr{})
			if err != nil {
				t.Error(err)
				return
			}
			l, err := m.Ack(ctx, sharedNet, sharedClient(i), o.IP)
			if err != nil {
				t.Errorf("client %d, %s from server %d: %v", i, o.IP, s, err)
				return
			}
			mu.Lock()
			acks = append(acks, ackRecord{client: i, server: s, l: l})
			mu.Unlock()
		}()
	}
	wg.Wait()
	checkNoDouble(t, acks)
	if len(acks) != 100 {
		t.Errorf("%d clients bound at their first REQUEST, want 100", len(acks))
	}
	if ca, cb := a.Stats().Conflicts, b.Stats().Conflicts; ca+cb != 0 {
		t.Errorf("conflicts: a=%d b=%d, want none", ca, cb)
	}
}

func TestShareOrder(t *testing.T) {
	for _, n := range []uint32{1, 2, 3, 7, 10, 253} {
		for count := 1; count <= 4; count++ {
			for rank := range count {
				seen := make([]bool, n)
				own := (n + uint32(count) - 1 - uint32(rank)) / uint32(count) // offsets ≡ rank below n
				for k := range n {
					off := shareOrder(k, n, rank, count)
					if off >= n || seen[off] {
						t.Fatalf("n=%d %d of %d: k=%d gives %d, out of range or twice", n, rank, count, k, off)
					}
					seen[off] = true
					if k < own && int(off)%count != rank {
						t.Fatalf("n=%d %d of %d: k=%d gives %d, outside its own share first", n, rank, count, k, off)
					}
				}
			}
		}
	}
}
