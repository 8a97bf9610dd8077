package dhcp

import (
	"net/netip"
	"testing"

	"rackboot/internal/dhcp4"
)

// FuzzDecode feeds arbitrary bytes through everything a received packet
// touches: Decode, RequestFrom, ClientAddr and the whole process path with a
// real decision and reply. None may panic, and our reply must parse. The
// codec's own round trip is dhcp4's FuzzParse.
func FuzzDecode(f *testing.F) {
	for _, p := range []*dhcp4.Packet{
		newReq(dhcp4.Discover, edk2),
		newReq(dhcp4.Discover, ipxeBIOS),
		newReq(dhcp4.Request, edk2, withCIAddr(netip.MustParseAddr("10.250.0.5")), withServerID(testServerIP)),
		newReq(dhcp4.Discover, httpBoot, withBroadcastFlag),
		newReq(dhcp4.Request, plainClient, withRequestedIP(netip.MustParseAddr("10.250.0.6"))),
	} {
		f.Add(p.Marshal())
	}
	f.Add([]byte{})
	f.Add(raw(newReq(dhcp4.Discover), dhcp4.OptOverload, 1, 3, dhcp4.OptVendorClass, 200))
	f.Add(overloadedFile([]byte{dhcp4.OptUserClass, 4, 'i', 'P', 'X', 'E', dhcp4.OptEnd}))

	s, _, _ := newTestServer(ModeProxy)
	s.Logger, s.OnEvent = nil, nil
	f.Fuzz(func(t *testing.T, b []byte) {
		src := netip.MustParseAddrPort("10.250.0.9:68")
		for _, port := range []int{dhcp4.PortServer, dhcp4.PortPXE} {
			r := s.process(b, src, port, netip.Addr{})
			s.finish(r, nil)
			if r.ev.Outcome == Answered {
				if _, err := dhcp4.Parse(r.reply); err != nil {
					t.Fatalf("our reply does not parse: %v", err)
				}
			}
		}
		if p, err := dhcp4.Parse(b); err == nil {
			RequestFrom(p)
			ClientAddr(p)
		}
	})
}
