package ra

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"
)

var (
	bootingMAC = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	otherMAC   = net.HardwareAddr{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc}
	ourMAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	clientLL   = netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	routerLL   = netip.MustParseAddr("fe80::1")
)

type fakeConn struct{}

func (fakeConn) read([]byte) (int, netip.Addr, int, bool, error) {
	return 0, netip.Addr{}, 0, false, nil
}
func (fakeConn) write([]byte, netip.Addr) error { return nil }
func (fakeConn) mac() net.HardwareAddr          { return ourMAC }
func (fakeConn) isLocal(a netip.Addr) bool      { return a == netip.MustParseAddr("fe80::2") }
func (fakeConn) Close() error                   { return nil }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestResponder(c *clock) *Responder {
	return newResponder(Config{
		Interface: "test0",
		Booting:   func(mac net.HardwareAddr) bool { return bytes.Equal(mac, bootingMAC) },
		Logger:    slog.New(slog.DiscardHandler),
		Now:       c.now,
	}, fakeConn{})
}

func TestAnswersBootingMachine(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	r := newTestResponder(c)
	reply, dst, ok := r.handle(marshalSolicitation(bootingMAC), clientLL, 255)
	if !ok || dst != clientLL {
		t.Fatalf("handle = %v %v, want an answer to %v", ok, dst, clientLL)
	}
	a, err := ParseAdvertisement(reply)
	if err != nil {
		t.Fatal(err)
	}
	if a.Configures() || a.HopLimit != 0 || a.Reachable != 0 || a.Retrans != 0 || !bytes.Equal(a.SourceMAC, ourMAC) {
		t.Errorf("advertisement = %+v, want one that configures nothing, from %v", a, ourMAC)
	}
	if reply[5] != 0 {
		t.Errorf("flags byte = %#x, want 0 (M, O clear; RFC 4191 preference 00 with lifetime 0)", reply[5])
	}
	// Rate limit: the next solicitation within a second is not answered.
	c.t = c.t.Add(300 * time.Millisecond)
	if _, _, ok := r.handle(marshalSolicitation(bootingMAC), clientLL, 255); ok {
		t.Error("answered again within PerMAC")
	}
	c.t = c.t.Add(time.Second)
	if _, _, ok := r.handle(marshalSolicitation(bootingMAC), clientLL, 255); !ok {
		t.Error("not answered after PerMAC")
	}
	// From the unspecified address: to all-nodes (and no link-layer option allowed).
	rs := marshalSolicitation(nil)
	if _, _, ok := r.handle(rs, netip.IPv6Unspecified(), 255); ok {
		t.Error("answered a solicitation with no link-layer address (cannot tell who boots)")
	}
	if st := r.Stats(); st.Answered != 0 || st.RateLimited != 1 || st.NotBooting != 1 {
		t.Errorf("stats = %+v", st) // Answered is counted by Serve after the write
	}
}

func TestInvalidSolicitations(t *testing.T) {
	r := newTestResponder(&clock{time.Unix(1e9, 0)})
	for name, tc := range map[string]struct {
		b   []byte
		src netip.Addr
		hop int
	}{
		"hop limit 64":             {marshalSolicitation(bootingMAC), clientLL, 64},
		"unspecified with SLLA":    {marshalSolicitation(bootingMAC), netip.IPv6Unspecified(), 255},
		"code 1":                   {append([]byte{133, 1}, marshalSolicitation(bootingMAC)[2:]...), clientLL, 255},
		"option of length 0":       {append(marshalSolicitation(nil), 1, 0, 0, 0, 0, 0, 0, 0), clientLL, 255},
		"short":                    {[]byte{133, 0, 0, 0}, clientLL, 255},
		"from ourselves (ignored)": {marshalSolicitation(bootingMAC), netip.MustParseAddr("fe80::2"), 255},
	} {
		if _, _, ok := r.handle(tc.b, tc.src, tc.hop); ok {
			t.Errorf("%s: answered", name)
		}
	}
	if st := r.Stats(); st.Invalid != 5 {
		t.Errorf("invalid = %d, want 5", st.Invalid)
	}
}

func TestNotBooting(t *testing.T) {
	r := newTestResponder(&clock{time.Unix(1e9, 0)})
	if _, _, ok := r.handle(marshalSolicitation(otherMAC), clientLL, 255); ok {
		t.Error("answered a machine that is not network-booting")
	}
	if st := r.Stats(); st.NotBooting != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func routerAdvert(lifetime uint16, prefix bool) []byte {
	b := Advertisement{Lifetime: lifetime, HopLimit: 64, SourceMAC: otherMAC}.Marshal()
	if prefix {
		pi := make([]byte, 32)
		pi[0], pi[1], pi[2], pi[3] = optPrefixInfo, 4, 64, 0xc0
		b = append(b, pi...)
	}
	return b
}

func TestRealRouterWins(t *testing.T) {
	for name, ra := range map[string][]byte{
		"lifetime 1800":        routerAdvert(1800, false),
		"prefix, lifetime 0":   routerAdvert(0, true),
		"M flag":               append([]byte{134, 0, 0, 0, 0, 0x80}, make([]byte, 10)...),
		"O flag, nothing else": append([]byte{134, 0, 0, 0, 0, 0x40}, make([]byte, 10)...),
	} {
		t.Run(name, func(t *testing.T) {
			c := &clock{time.Unix(1e9, 0)}
			r := newTestResponder(c)
			r.handle(ra, routerLL, 255)
			if _, _, ok := r.handle(marshalSolicitation(bootingMAC), clientLL, 255); ok {
				t.Fatal("answered while a real router advertises")
			}
			if st := r.Stats(); !st.Silent || st.SuppressedByRouter != 1 || st.RouterAdverts != 1 {
				t.Errorf("stats = %+v", st)
			}
			c.t = c.t.Add(DefaultQuiet)
			if _, _, ok := r.handle(marshalSolicitation(bootingMAC), clientLL, 255); !ok {
				t.Error("still silent after Quiet")
			}
		})
	}
	// An advertisement like ours, or a forged one (hop limit < 255, not
	// link-local), silences nothing.
	r := newTestResponder(&clock{time.Unix(1e9, 0)})
	r.handle(routerAdvert(0, false), routerLL, 255)
	r.handle(routerAdvert(1800, false), routerLL, 64)
	r.handle(routerAdvert(1800, false), netip.MustParseAddr("2001:db8::1"), 255)
	if _, _, ok := r.handle(marshalSolicitation(bootingMAC), clientLL, 255); !ok {
		t.Error("silenced by an advertisement that configures nothing or is not from this link")
	}
}

func TestParseAdvertisementRoundTrip(t *testing.T) {
	in := Advertisement{HopLimit: 64, Managed: true, Other: true, Lifetime: 1800, Reachable: 30000, Retrans: 1000, SourceMAC: ourMAC}
	out, err := ParseAdvertisement(in.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if out.HopLimit != 64 || !out.Managed || !out.Other || out.Lifetime != 1800 || out.Reachable != 30000 || out.Retrans != 1000 || !bytes.Equal(out.SourceMAC, ourMAC) {
		t.Errorf("round trip = %+v", out)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(marshalSolicitation(bootingMAC))
	f.Add(routerAdvert(1800, true))
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Add([]byte{134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseSolicitation(b)
		ParseAdvertisement(b)
		r := newTestResponder(&clock{time.Unix(1e9, 0)})
		r.handle(b, clientLL, 255)
		r.handle(b, netip.IPv6Unspecified(), 255)
		r.handle(b, netip.Addr{}, 255)
	})
}
