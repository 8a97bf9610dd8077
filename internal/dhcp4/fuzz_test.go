package dhcp4

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, which must not panic, and checks
// that a packet that parses re-encodes to one that parses the same.
// internal/dhcp's FuzzDecode drives the servers' whole receive path.
func FuzzParse(f *testing.F) {
	for _, p := range []*Packet{
		newReq(Discover, edk2),
		newReq(Discover, ipxeBIOS),
		newReq(Request, edk2, withCIAddr(netip.MustParseAddr("10.250.0.5")), withServerID(netip.MustParseAddr("10.250.0.1"))),
		newReq(Request, withRequestedIP(netip.MustParseAddr("10.250.0.6"))),
	} {
		f.Add(p.Marshal())
	}
	f.Add([]byte{})
	f.Add(raw(newReq(Discover), OptOverload, 1, 3, OptVendorClass, 200))
	f.Add(overloadedFile([]byte{OptUserClass, 4, 'i', 'P', 'X', 'E', OptEnd}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		p.MessageType()
		p.ServerID()
		p.RequestedIP()
		ArchTypes(p.Options.Get(OptClientArch))
		UserClasses(p.Options.Get(OptUserClass))
		enc := p.Marshal()
		if len(enc) != p.EncodedLen() {
			t.Fatalf("Marshal wrote %d bytes, EncodedLen says %d", len(enc), p.EncodedLen())
		}
		again, err := Parse(enc)
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
