package lease

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	"rackboot/internal/store/boltstore"
)

// counts is a Usage's Leases with only the non-zero states, for comparing.
func counts(u SubnetUsage) map[State]int {
	out := map[State]int{}
	for st, n := range u.Leases {
		if n != 0 {
			out[st] = n
		}
	}
	return out
}

func TestUsage(t *testing.T) {
	e := newEnv(t)
	check := func(when string, want ...map[State]int) {
		t.Helper()
		got := e.m.Usage()
		if len(got) != 2 || got[0].Subnet != net1 || got[1].Subnet != net2 {
			t.Fatalf("%s: subnets %+v, want %v and %v in config order", when, got, net1, net2)
		}
		for i, u := range got {
			if len(u.Leases) != len(States) {
				t.Errorf("%s: %v has states %v, want all of %v", when, u.Subnet, u.Leases, States)
			}
			if c := counts(u); !maps.Equal(c, want[i]) {
				t.Errorf("%s: %v leases %v, want %v", when, u.Subnet, c, want[i])
			}
		}
	}
	u := e.m.Usage()
	// net1: pool .10-.13 with .11 excluded; net2: a whole /24 as a pool,
	// less its network and broadcast addresses.
	if u[0].PoolAddresses != 3 || u[0].Reservations != 1 || u[1].PoolAddresses != 254 || u[1].Reservations != 0 {
		t.Errorf("pools and reservations: %+v", u)
	}
	check("empty", map[State]int{}, map[State]int{})

	e.ack(net1, cl(1), ip("10.1.0.10"))
	e.offer(net1, cl(2), netip.Addr{})                    // .12, offered
	e.ack(net1, Client{MAC: resMAC}, ip("10.1.0.5"))      // the reservation, outside the pools
	e.ack(net2, cl(3), ip("10.2.0.7"))                    // a 2h lease
	e.ack(net2, cl(6), ip("10.2.0.9"))                    // released below
	o := e.offer(net2, cl(4), netip.Addr{})               // declined below
	if err := e.m.Decline(ctx, cl(4), o.IP); err != nil { // quarantined
		t.Fatal(err)
	}
	if err := e.m.Release(ctx, cl(6), ip("10.2.0.9")); err != nil {
		t.Fatal(err)
	}
	check("after the acks",
		map[State]int{Bound: 2, Offered: 1},
		map[State]int{Bound: 1, Declined: 1, Released: 1})

	// Past net1's lease time: its leases read expired, the offer lapsed.
	e.clk.Advance(time.Hour + time.Second)
	check("an hour later",
		map[State]int{Expired: 2},
		map[State]int{Bound: 1, Declined: 1, Released: 1})

	// A client coming back is offered its expired address: the address
	// counts once, as offered.
	if o := e.offer(net1, cl(1), netip.Addr{}); o.IP != ip("10.1.0.10") {
		t.Fatalf("returning client offered %v", o.IP)
	}
	check("offer over an expired lease",
		map[State]int{Expired: 1, Offered: 1},
		map[State]int{Bound: 1, Declined: 1, Released: 1})
}

func TestUsagePoolAddresses(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := Open(ctx, st, Config{
		Subnets: []Subnet{
			// .0 and .3 are the network and broadcast addresses, .1 reserved.
			{Prefix: netip.MustParsePrefix("10.3.0.0/30"), LeaseTime: time.Hour,
				Pools:        []Range{{ip("10.3.0.0"), ip("10.3.0.3")}},
				Reservations: []Reservation{{MAC: mac(1), IP: ip("10.3.0.1")}, {MAC: mac(2), IP: ip("10.3.0.2")}}},
			// Two pools, one with the excluded server address in it; a /31
			// has no network or broadcast address (RFC 3021).
			{Prefix: netip.MustParsePrefix("10.4.0.0/24"), LeaseTime: time.Hour,
				Pools: []Range{{ip("10.4.0.10"), ip("10.4.0.19")}, {ip("10.4.0.100"), ip("10.4.0.100")}}},
			{Prefix: netip.MustParsePrefix("10.5.0.0/31"), LeaseTime: time.Hour,
				Pools: []Range{{ip("10.5.0.0"), ip("10.5.0.1")}}},
		},
		Exclude: []netip.Addr{ip("10.4.0.15"), ip("10.4.0.1"), ip("10.3.0.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var got []int
	for _, u := range m.Usage() {
		got = append(got, u.PoolAddresses)
	}
	if want := []int{0, 10, 2}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("pool addresses %v, want %v", got, want)
	}
}
