package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFindDoubleLeases(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.100")
	ip2 := netip.MustParseAddr("10.0.0.101")
	ack := func(srv string, s int, mac string, a netip.Addr) LeaseEvent {
		return LeaseEvent{Server: srv, At: t0.Add(time.Duration(s) * time.Second), MAC: mac, IP: a}
	}
	lt := time.Minute
	ok := []LeaseEvent{
		ack("a", 0, "m1", ip),
		ack("b", 1, "m1", ip), // a renewal through the other server
		ack("b", 1, "m2", ip2),
		ack("a", 100, "m3", ip), // m1's lease ran out at 61 s
		{Server: "a", At: t0.Add(110 * time.Second), MAC: "m3", IP: ip, Release: true},
		ack("b", 111, "m4", ip), // after m3 released it
	}
	if got := FindDoubleLeases(ok, lt); len(got) != 0 {
		t.Errorf("conflicts in a clean history: %v", got)
	}
	// The crafted double lease: b ACKs m2 the address a gave m1 a second ago,
	// listed out of order (the logs of two servers).
	bad := append([]LeaseEvent{ack("b", 30, "m2", ip)}, ok...)
	got := FindDoubleLeases(bad, lt)
	if len(got) != 1 || got[0].Conflicting.MAC != "m2" || got[0].Held.MAC != "m1" || got[0].IP != ip {
		t.Fatalf("want one double lease of %v (m1 then m2), got %v", ip, got)
	}
	t.Log(got[0])
	// A release by another client does not end the holder's lease.
	bad = []LeaseEvent{ack("a", 0, "m1", ip), {Server: "b", At: t0.Add(time.Second), MAC: "m2", IP: ip, Release: true}, ack("b", 2, "m2", ip)}
	if got := FindDoubleLeases(bad, lt); len(got) != 1 {
		t.Errorf("a foreign release freed the address: %v", got)
	}
}

func TestParseLeaseLog(t *testing.T) {
	log := `time=2026-12-06T05:24:11.686Z level=INFO msg="DHCP REQUEST" svc=dhcp mac=e2:95:6f:12:b6:6b ip=10.232.72.100 reply=ACK to=255.255.255.255:68
time=2026-12-06T05:24:11.600Z level=DEBUG msg="DHCP DISCOVER" svc=dhcp mac=e2:95:6f:12:b6:6b ip=10.232.72.100 reply=OFFER to=255.255.255.255:68
time=2026-12-06T05:24:12.000Z level=INFO msg="DHCP REQUEST" svc=dhcp mac=e2:95:6f:12:b6:6c ip=10.232.72.101 reply="NAK: address taken" to=255.255.255.255:68
time=2026-12-06T05:24:13.000Z level=INFO msg="DHCP RELEASE" svc=dhcp mac=e2:95:6f:12:b6:6b ip=10.232.72.100 reply=released
`
	evs, naks, err := ParseLeaseLog("a", strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || naks != 1 || evs[0].MAC != "e2:95:6f:12:b6:6b" || evs[0].IP.String() != "10.232.72.100" || evs[0].Release || !evs[1].Release {
		t.Errorf("got %+v, %d NAKs", evs, naks)
	}
}
