package secureboot

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzContent: any name a TFTP or HTTP client asks for (GRUB's absolute
// names, percent-decoded paths, hostile MAC strings) is either the stub,
// one machine's menu by a MAC that parses, or not generated at all.
func FuzzContent(f *testing.F) {
	for _, s := range []string{
		"debian-installer/amd64/grub/grub.cfg",
		"/debian-installer/amd64/grub/rackboot/52:54:00:ab:cd:01.cfg",
		"debian-installer/amd64/grub/rackboot/52-54-00-AB-CD-01.cfg",
		"debian-installer/amd64/grub/rackboot/../../../../api-token",
		"debian-installer/amd64/grub/rackboot/00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01.cfg",
		"debian-installer/amd64/grub/rackboot/.cfg",
		"debian-installer/amd64/grub/rackboot/0000.0000.0000.cfg\x00",
		"//debian-installer/amd64/grub/grub.cfg",
	} {
		f.Add(s)
	}
	c := Chain{Shim: "/x/bootnetx64.efi", GRUB: "/x/grubx64.efi", Prefix: "debian-installer/amd64/grub"}
	f.Fuzz(func(t *testing.T, name string) {
		var asked net.HardwareAddr
		render := func(_ context.Context, mac net.HardwareAddr, _ netip.Addr) ([]byte, error) {
			asked = mac
			return []byte("menu"), nil
		}
		b, ok, err := c.Content(context.Background(), render, netip.Addr{}, name)
		if !ok {
			if asked != nil || b != nil || err != nil {
				t.Fatalf("%q: not generated, yet rendered %v", name, asked)
			}
			return
		}
		n := strings.TrimPrefix(name, "/")
		if n == c.stubName() {
			return
		}
		rest, in := strings.CutPrefix(n, c.machineDir())
		if !in || strings.Contains(rest, "/") || !strings.HasSuffix(rest, ".cfg") || asked == nil {
			t.Fatalf("%q generated as a machine's menu (mac %v)", name, asked)
		}
		if _, err := net.ParseMAC(strings.TrimSuffix(rest, ".cfg")); err != nil {
			t.Fatalf("%q: rendered for an unparsable MAC", name)
		}
	})
}
