package dhcp

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzDecode feeds arbitrary bytes through everything a received packet
// touches: Decode, RequestFrom, ClientAddr, the whole process path with a
// real decision and reply, and the codec's round trip. None may panic, and a
// packet that parses must re-encode to one that parses the same.
func FuzzDecode(f *testing.F) {
	for _, p := range []*Packet{
		newReq(Discover, edk2),
		newReq(Discover, ipxeBIOS),
		newReq(Request, edk2, withCIAddr(netip.MustParseAddr("10.250.0.5")), withServerID(testServerIP)),
		newReq(Discover, httpBoot, withBroadcastFlag),
		newReq(Request, plainClient, withRequestedIP(netip.MustParseAddr("10.250.0.6"))),
	} {
		f.Add(p.Marshal())
	}
	f.Add([]byte{})
	f.Add(raw(newReq(Discover), OptOverload, 1, 3, OptVendorClass, 200))
	f.Add(overloadedFile([]byte{OptUserClass, 4, 'i', 'P', 'X', 'E', OptEnd}))

	s, _, _ := newTestServer(ModeProxy)
	s.Logger, s.OnEvent = nil, nil
	f.Fuzz(func(t *testing.T, b []byte) {
		src := netip.MustParseAddrPort("10.250.0.9:68")
		for _, port := range []int{PortServer, PortPXE} {
			r := s.process(b, src, port, netip.Addr{})
			s.finish(r, nil)
			if r.ev.Outcome == Answered {
				if _, err := Parse(r.reply); err != nil {
					t.Fatalf("our reply does not parse: %v", err)
				}
			}
		}
		p, err := Parse(b)
		if err != nil {
			return
		}
		RequestFrom(p)
		ClientAddr(p)
		again, err := Parse(p.Marshal())
		if err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		if again.XID != p.XID || again.Flags != p.Flags || !bytes.Equal(again.CHAddr, p.CHAddr) ||
			len(again.Options) != len(p.Options) {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", p, again)
		}
		for code, v := range p.Options {
			if code != OptPad && code != OptEnd && !bytes.Equal(again.Options[code], v) {
				t.Fatalf("option %d: %x became %x", code, v, again.Options[code])
			}
		}
	})
}
