package lease

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"rackboot/internal/store"
	"rackboot/internal/store/boltstore"
)

// clock is a fake time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	net1   = netip.MustParsePrefix("10.1.0.0/24")
	net2   = netip.MustParsePrefix("10.2.0.0/24")
	ctx    = context.Background()
	resMAC = mac(0xee)
)

func mac(b byte) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, 0, b} }
func ip(s string) netip.Addr      { return netip.MustParseAddr(s) }
func cl(b byte) Client            { return Client{MAC: mac(b)} }

func testConfig(clk *clock) Config {
	return Config{
		Subnets: []Subnet{
			{Prefix: net1, LeaseTime: time.Hour,
				Pools:        []Range{{ip("10.1.0.10"), ip("10.1.0.13")}},
				Reservations: []Reservation{{MAC: resMAC, IP: ip("10.1.0.5"), Hostname: "cn5"}}},
			{Prefix: net2, LeaseTime: 2 * time.Hour, Pools: []Range{{ip("10.2.0.0"), ip("10.2.0.255")}}},
		},
		Exclude:     []netip.Addr{ip("10.1.0.11")},
		DeclineHold: 10 * time.Minute,
		ReclaimHold: 30 * time.Minute,
		Now:         clk.Now,
	}
}

type env struct {
	t    *testing.T
	dir  string
	clk  *clock
	st   store.Store
	m    *Manager
	edit func(*Config, *store.Store) // changes to testConfig and the store, before Open
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

func newEnvWith(t *testing.T, edit func(*Config, *store.Store)) *env {
	e := &env{t: t, dir: t.TempDir(), clk: &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}, edit: edit}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	st, err := boltstore.Open(e.dir, boltstore.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	var s store.Store = st
	cfg := testConfig(e.clk)
	if e.edit != nil {
		e.edit(&cfg, &s)
	}
	m, err := Open(ctx, s, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.m = st, m
}

func (e *env) close() {
	if e.m != nil {
		e.m.Close()
		e.st.Close()
		e.m = nil
	}
}

// reopen is a restart: a new Manager over the same file.
func (e *env) reopen() { e.close(); e.open() }

func (e *env) offer(sn netip.Prefix, c Client, req netip.Addr) Offer {
	e.t.Helper()
	o, err := e.m.Offer(sn, c, req)
	if err != nil {
		e.t.Fatalf("Offer to %v: %v", c.MAC, err)
	}
	return o
}

func (e *env) ack(sn netip.Prefix, c Client, a netip.Addr) Lease {
	e.t.Helper()
	l, err := e.m.Ack(ctx, sn, c, a)
	if err != nil {
		e.t.Fatalf("Ack %v to %v: %v", a, c.MAC, err)
	}
	return l
}

func (e *env) stored(a netip.Addr) (Lease, bool) {
	e.t.Helper()
	kv, err := e.st.Get(ctx, leaseKey(a))
	if errors.Is(err, store.ErrNotFound) {
		return Lease{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := decode(kv.Value)
	if err != nil {
		e.t.Fatal(err)
	}
	return l, true
}

func TestOfferOrder(t *testing.T) {
	e := newEnv(t)
	// Pool 10.1.0.10-13 with .11 excluded.
	if o := e.offer(net1, cl(1), netip.Addr{}); o.IP != ip("10.1.0.10") || !o.New || o.State != Offered {
		t.Errorf("first offer %+v", o)
	}
	// The same client asking again gets the same offer; another gets the next.
	if o := e.offer(net1, cl(1), netip.Addr{}); o.IP != ip("10.1.0.10") {
		t.Errorf("repeat offer %v", o.IP)
	}
	if o := e.offer(net1, cl(2), netip.Addr{}); o.IP != ip("10.1.0.12") {
		t.Errorf("second client %v, want .12 (.11 excluded)", o.IP)
	}
	// A free requested address is honoured; a held one is not.
	if o := e.offer(net1, cl(3), ip("10.1.0.13")); o.IP != ip("10.1.0.13") {
		t.Errorf("requested .13, got %v", o.IP)
	}
	// The pool is full of offers: a fourth client gets the oldest one.
	// That taken offer holds nothing: the first REQUEST wins.
	if o := e.offer(net1, cl(4), ip("10.1.0.10")); o.IP != ip("10.1.0.10") {
		t.Errorf("fourth client %v, want the oldest offer .10", o.IP)
	}
	if o := e.offer(net1, cl(5), netip.Addr{}); o.IP != ip("10.1.0.12") {
		t.Errorf("fifth client %v, want the next oldest offer .12", o.IP)
	}
	if _, err := e.m.Ack(ctx, net1, cl(2), ip("10.1.0.12")); err != nil {
		t.Errorf("REQUEST of an offer taken from it: %v, want the lease", err)
	}
	if _, err := e.m.Ack(ctx, net1, cl(5), ip("10.1.0.12")); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("REQUEST of an address leased meanwhile: %v, want not available", err)
	}
	// The reservation wins, with its host name, whatever is asked.
	if o := e.offer(net1, Client{MAC: resMAC}, ip("10.1.0.13")); o.IP != ip("10.1.0.5") || !o.Reserved || o.Hostname != "cn5" || o.New {
		t.Errorf("reserved client %+v", o)
	}
	// Offers lapse after OfferHold.
	e.clk.Advance(31 * time.Second)
	if o := e.offer(net1, cl(4), netip.Addr{}); !o.IP.IsValid() {
		t.Errorf("after the hold: %+v", o)
	}
	// Nothing was stored but the one lease.
	if kvs, _ := e.st.List(ctx, ""); len(kvs) != 1 {
		t.Errorf("offers reached the store: %v", kvs)
	}
}

func TestAckIsDurable(t *testing.T) {
	e := newEnv(t)
	c := Client{MAC: mac(1), Hostname: "web1", Relay: ip("10.2.0.1")}
	o := e.offer(net2, c, netip.Addr{})
	l := e.ack(net2, c, o.IP)
	if l.State != Bound || !l.Expires.Equal(e.clk.Now().Add(2*time.Hour)) || l.Hostname != "web1" {
		t.Errorf("lease %+v", l)
	}
	// In the store the moment Ack returns, with its MAC index.
	if s, ok := e.stored(o.IP); !ok || s.MAC.String() != mac(1).String() || s.State != Bound || s.Relay != c.Relay {
		t.Errorf("stored %+v %v", s, ok)
	}
	if kvs, _ := e.st.List(ctx, ""); len(kvs) != 1 || kvs[0].Key != "leases/"+o.IP.String() {
		t.Errorf("store holds %v, want the one lease record", kvs)
	}
	// After a restart the client still has it: offered again, not New.
	e.reopen()
	if o2 := e.offer(net2, c, netip.Addr{}); o2.IP != o.IP || o2.New || o2.State != Bound {
		t.Errorf("after restart: %+v", o2)
	}
	// And nobody else gets it.
	if o3 := e.offer(net2, cl(2), o.IP); o3.IP == o.IP {
		t.Errorf("leased address offered to another client")
	}
	if _, err := e.m.Ack(ctx, net2, cl(2), o.IP); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("another client's REQUEST for it: %v", err)
	}
}

func TestAckRefusals(t *testing.T) {
	e := newEnv(t)
	e.ack(net1, cl(1), ip("10.1.0.10"))
	for _, tc := range []struct {
		name string
		sn   netip.Prefix
		c    Client
		ip   string
		want error
	}{
		{"another client's lease", net1, cl(2), "10.1.0.10", ErrNotAvailable},
		{"not in the subnet", net1, cl(2), "10.2.0.7", ErrWrongSubnet},
		{"outside the pools", net1, cl(2), "10.1.0.100", ErrNotAvailable},
		{"excluded", net1, cl(2), "10.1.0.11", ErrNotAvailable},
		{"another's reservation", net1, cl(2), "10.1.0.5", ErrNotAvailable},
		{"reserved client asks for a pool address", net1, Client{MAC: resMAC}, "10.1.0.12", ErrNotAvailable},
		{"network address", net2, cl(2), "10.2.0.0", ErrNotAvailable},
		{"broadcast address", net2, cl(2), "10.2.0.255", ErrNotAvailable},
		{"unknown subnet", netip.MustParsePrefix("10.9.0.0/24"), cl(2), "10.9.0.1", ErrNoSubnet},
	} {
		if _, err := e.m.Ack(ctx, tc.sn, tc.c, ip(tc.ip)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// INIT-REBOOT or REBINDING for a free pool address without an offer: granted.
	if l := e.ack(net1, cl(3), ip("10.1.0.13")); l.IP != ip("10.1.0.13") {
		t.Errorf("free address: %+v", l)
	}
	// The reserved client gets its reservation, marked so.
	if l := e.ack(net1, Client{MAC: resMAC}, ip("10.1.0.5")); !l.Reserved || l.Hostname != "cn5" {
		t.Errorf("reservation: %+v", l)
	}
}

func TestOneLeasePerClientPerSubnet(t *testing.T) {
	e := newEnv(t)
	e.ack(net1, cl(1), ip("10.1.0.10"))
	e.ack(net1, cl(1), ip("10.1.0.12")) // it moved: the old one is released
	if s, _ := e.stored(ip("10.1.0.10")); s.State != Released {
		t.Errorf("old lease %+v, want released", s)
	}
	e.ack(net2, cl(1), ip("10.2.0.9")) // another subnet: both stay
	if s, _ := e.stored(ip("10.1.0.12")); s.State != Bound {
		t.Errorf("first subnet's lease %+v", s)
	}
	n := 0
	for _, l := range e.m.List() {
		if l.MAC.String() == mac(1).String() {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d records for the client, want 3", n)
	}
}

func TestClientIDIsTheIdentity(t *testing.T) {
	e := newEnv(t)
	a := Client{MAC: mac(1), ClientID: []byte{1, 2, 3}}
	l := e.ack(net2, a, e.offer(net2, a, netip.Addr{}).IP)
	// Same client id behind another NIC: the same client.
	b := Client{MAC: mac(9), ClientID: []byte{1, 2, 3}}
	if o := e.offer(net2, b, netip.Addr{}); o.IP != l.IP {
		t.Errorf("same client id, new MAC: offered %v, want %v", o.IP, l.IP)
	}
	// Same MAC without the client id: someone else.
	if _, err := e.m.Ack(ctx, net2, cl(1), l.IP); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("same MAC, no client id: %v", err)
	}
	if s, _ := e.stored(l.IP); s.ClientID != "010203" {
		t.Errorf("stored client id %q", s.ClientID)
	}
}

func TestReleaseAndExpiry(t *testing.T) {
	e := newEnv(t)
	e.ack(net1, cl(1), ip("10.1.0.10"))
	if err := e.m.Release(ctx, cl(2), ip("10.1.0.10")); !errors.Is(err, ErrNotOwner) {
		t.Errorf("release by another: %v", err)
	}
	if err := e.m.Release(ctx, cl(1), ip("10.1.0.10")); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.stored(ip("10.1.0.10")); s.State != Released {
		t.Errorf("after release %+v", s)
	}
	// Released: free, but never-used addresses go first, and the old
	// client gets its address back.
	if o := e.offer(net1, cl(2), netip.Addr{}); o.IP != ip("10.1.0.12") {
		t.Errorf("new client got %v, want a never-used address", o.IP)
	}
	if o := e.offer(net1, cl(1), netip.Addr{}); o.IP != ip("10.1.0.10") {
		t.Errorf("returning client got %v", o.IP)
	}

	// Expiry: a bound lease past its end is free for others when nothing
	// else is left, and its record is reclaimed after ReclaimHold.
	e.ack(net1, cl(3), ip("10.1.0.13"))
	e.clk.Advance(time.Hour + time.Second)
	if l, _ := e.stored(ip("10.1.0.13")); l.StateAt(e.clk.Now()) != Expired {
		t.Errorf("state after the lease time: %v", l.StateAt(e.clk.Now()))
	}
	// .12 was only offered, and that lapsed: it is the one never-used
	// address. After it, the records that expired longest ago go first.
	if o := e.offer(net1, cl(4), netip.Addr{}); o.IP != ip("10.1.0.12") {
		t.Errorf("fourth client got %v, want the never-used .12", o.IP)
	}
	if o := e.offer(net1, cl(5), netip.Addr{}); o.IP != ip("10.1.0.10") {
		t.Errorf("fifth client got %v, want .10, released longest ago", o.IP)
	}
	// .10 was released an hour ago (> ReclaimHold); .13 expired just now.
	if n := e.m.Reclaim(); n != 1 {
		t.Errorf("reclaimed %d, want 1 (released .10)", n)
	}
	e.clk.Advance(30 * time.Minute)
	if n := e.m.Reclaim(); n != 1 {
		t.Errorf("reclaimed %d, want 1 (expired .13)", n)
	}
	e.reopen() // the deletes are committed by Close
	for _, a := range []string{"10.1.0.10", "10.1.0.13"} {
		if s, ok := e.stored(ip(a)); ok {
			t.Errorf("%s still stored: %+v", a, s)
		}
	}
	if kvs, _ := e.st.List(ctx, ""); len(kvs) != 0 {
		t.Errorf("records left behind: %v", kvs)
	}
}

func TestDeclineQuarantines(t *testing.T) {
	e := newEnv(t)
	o := e.offer(net1, cl(1), netip.Addr{})
	e.ack(net1, cl(1), o.IP)
	if err := e.m.Decline(ctx, cl(2), o.IP); !errors.Is(err, ErrNotOwner) {
		t.Errorf("decline by another: %v", err)
	}
	if err := e.m.Decline(ctx, cl(1), o.IP); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.stored(o.IP); s.State != Declined || !s.Expires.Equal(e.clk.Now().Add(10*time.Minute)) {
		t.Errorf("declined record %+v", s)
	}
	// Nobody gets it during the quarantine, not even the decliner.
	for i := byte(1); i <= 3; i++ {
		if o2, err := e.m.Offer(net1, cl(i), o.IP); err == nil && o2.IP == o.IP {
			t.Errorf("quarantined address offered to %v", cl(i).MAC)
		}
	}
	if _, err := e.m.Ack(ctx, net1, cl(1), o.IP); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("REQUEST for a quarantined address: %v", err)
	}
	e.reopen()
	if _, err := e.m.Ack(ctx, net1, cl(1), o.IP); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("quarantine lost in a restart: %v", err)
	}
	e.clk.Advance(10 * time.Minute)
	if n := e.m.Reclaim(); n != 1 {
		t.Errorf("reclaimed %d after the quarantine", n)
	}
	e.ack(net1, cl(2), o.IP)

	// A ping conflict quarantines too, without an owner.
	if err := e.m.Conflict(ctx, ip("10.1.0.13")); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.stored(ip("10.1.0.13")); s.State != Declined || len(s.MAC) != 0 {
		t.Errorf("conflict record %+v", s)
	}
}

// TestGroupCommit: many concurrent Acks share few transactions, and every
// one that returned is in the store after a restart.
func TestGroupCommit(t *testing.T) {
	e := newEnv(t)
	const n = 400
	var wg sync.WaitGroup
	acked := make([]Lease, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := Client{MAC: net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}}
			o, err := e.m.Offer(net2, c, netip.Addr{})
			if errors.Is(err, ErrPoolExhausted) {
				return // 254 addresses for 400 clients
			}
			if err != nil {
				t.Error(err)
				return
			}
			l, err := e.m.Ack(ctx, net2, c, o.IP)
			if errors.Is(err, ErrNotAvailable) {
				return // the pool was full: a later client took our offer and REQUESTed it first
			}
			if err != nil {
				t.Error(err)
				return
			}
			acked[i] = l
		}()
	}
	wg.Wait()
	st := e.m.Stats()
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
	if st.Commits >= st.Writes {
		t.Errorf("no batching: %d writes in %d commits", st.Writes, st.Commits)
	}
	e.reopen()
	seen := map[netip.Addr]string{}
	count := 0
	for _, l := range acked {
		if !l.IP.IsValid() {
			continue
		}
		count++
		if prev, dup := seen[l.IP]; dup {
			t.Errorf("%v ACKed to %s and %s", l.IP, prev, l.MAC)
		}
		seen[l.IP] = l.MAC.String()
		s, ok := e.stored(l.IP)
		if !ok || s.MAC.String() != l.MAC.String() {
			t.Errorf("ACKed %v to %v, stored %+v", l.IP, l.MAC, s)
		}
	}
	if count != 254 {
		t.Errorf("%d leases, want the whole pool of 254", count)
	}
	if got := len(e.m.List()); got != count {
		t.Errorf("List has %d leases, want %d", got, count)
	}
}

func TestOpenRefusesBadSubnets(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		name string
		s    []Subnet
	}{
		{"overlap", []Subnet{{Prefix: net1, LeaseTime: time.Hour}, {Prefix: netip.MustParsePrefix("10.1.0.0/16"), LeaseTime: time.Hour}}},
		{"host bits", []Subnet{{Prefix: netip.MustParsePrefix("10.1.0.1/24"), LeaseTime: time.Hour}}},
		{"pool outside", []Subnet{{Prefix: net1, LeaseTime: time.Hour, Pools: []Range{{ip("10.1.0.1"), ip("10.1.1.1")}}}}},
		{"pools overlap", []Subnet{{Prefix: net1, LeaseTime: time.Hour, Pools: []Range{{ip("10.1.0.1"), ip("10.1.0.9")}, {ip("10.1.0.5"), ip("10.1.0.20")}}}}},
		{"reservation outside", []Subnet{{Prefix: net1, LeaseTime: time.Hour, Reservations: []Reservation{{MAC: mac(1), IP: ip("10.2.0.1")}}}}},
		{"no lease time", []Subnet{{Prefix: net1}}},
	} {
		if m, err := Open(ctx, st, Config{Subnets: tc.s}); err == nil {
			m.Close()
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestListFromStore(t *testing.T) {
	e := newEnv(t)
	for i := byte(1); i <= 3; i++ {
		e.ack(net2, cl(i), netip.AddrFrom4([4]byte{10, 2, 0, 20 - i}))
	}
	ls, err := List(ctx, e.st)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.IP.String())
	}
	if fmt.Sprint(got) != "[10.2.0.17 10.2.0.18 10.2.0.19]" {
		t.Errorf("List order %v", got)
	}
}
