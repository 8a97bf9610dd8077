package dhcp

import (
	"net/netip"
	"strings"
	"testing"

	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

// ipxeEFI makes the request look like an x86_64 snponly.efi's: user class
// iPXE, arch 7 and option 175 with the version, the NIC's bus id and
// features; mb2 adds TritonDataCenter/ipxe's multiboot2 flag (0x2a).
func ipxeEFI(mb2 bool) reqOpt {
	return func(p *dhcp4.Packet) {
		p.Options[dhcp4.OptVendorClass] = []byte("PXEClient:Arch:00007:UNDI:003010")
		p.Options[dhcp4.OptClientArch] = []byte{0, 7}
		p.Options[dhcp4.OptUserClass] = []byte("iPXE")
		o := []byte{0xeb, 3, 1, 0, 0, 0xb1, 5, 1, 0x1a, 0xf4, 0x10, 0x00,
			0x13, 1, 1, 0x14, 1, 1, 0x15, 1, 1, 0x17, 1, 1, 0x24, 1, 1, 0x27, 1, 1}
		if mb2 {
			o = append(o, 0x2a, 1, 1)
		}
		p.Options[dhcp4.OptIPXE] = o
	}
}

// A DHCP request off the wire, with and without multiboot2 in option 175:
// the reply's boot file is the menu URL, naming the feature only when the
// client advertised it.
func TestIPXEFeaturesInMenuURL(t *testing.T) {
	cfg := testBootConfig()
	for _, mb2 := range []bool{false, true} {
		wire := newReq(dhcp4.Request, ipxeEFI(mb2), withCIAddr(netip.MustParseAddr("10.250.0.50"))).Marshal()
		p, err := Decode(wire)
		if err != nil {
			t.Fatal(err)
		}
		c := classify(p)
		if !c.IPXE || c.Arch != pxe.ArchEFIx8664 || c.Features.Has(pxe.FeatureMultiboot2) != mb2 || !c.Features.Has(pxe.FeatureHTTPS) {
			t.Errorf("multiboot2 %v: Classify = %+v (features %v)", mb2, c, c.Features)
		}
		d := cfg.Decide(c)
		r, err := BuildReply(p, d, testServerIP)
		if err != nil {
			t.Fatal(err)
		}
		file := string(r.Options.Get(dhcp4.OptBootFile))
		if got := strings.HasSuffix(file, "&arch=efi-x86_64&features=multiboot2"); got != mb2 || !strings.Contains(file, "/boot.ipxe?mac=") {
			t.Errorf("multiboot2 %v: boot file %q", mb2, file)
		}
	}
}
