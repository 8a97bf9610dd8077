// Package boot decides what a network-boot client gets next: an iPXE build
// over TFTP for a firmware PXE ROM, the menu URL for a client that already
// runs iPXE, an HTTP URL for a UEFI HTTP-boot client, or nothing at all.
//
// The decision is a pure function of the classified client (pxe.Client) and a
// small Config, so the DHCP server that asks and the tests that check it need
// no network. The package also keeps the table of recent iPXE sightings that
// breaks the chainload loop when rackboot is only the TFTP server of a DHCP
// server it cannot configure (see Sightings and LoopBreaker).
package boot

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"rackboot/internal/pxe"
)

// Config is what the decision needs to know about this server.
type Config struct {
	// ServerIP is the address clients reach us at: DHCP next-server
	// (siaddr), option 54 and the host in HTTPBase.
	ServerIP netip.Addr
	// HTTPBase is the root of our HTTP server without a trailing slash,
	// e.g. "http://10.0.0.1:8080".
	HTTPBase string
	// HasFile reports whether an NBP file (a name from pxe.BootFiles) can be
	// served. Nil means every file is assumed present.
	HasFile func(name string) bool
	// FirmwareDir names, for error messages only, where NBP files are looked
	// up (the TFTP root). Empty reads as "the firmware directory".
	FirmwareDir string
	// SecureBootFile is the signed shim a UEFI x86_64 machine with Secure
	// Boot on gets instead of iPXE ("" when there is no signed chain), and
	// SecureBoot says whether a machine is one (its setting or a rule's).
	SecureBootFile string
	SecureBoot     func(mac net.HardwareAddr) bool
}

// Decision is the answer for one client.
type Decision struct {
	// Answer is false when we must stay silent: the client is not a boot
	// client, its arch is unknown or we have no NBP for it. Another DHCP or
	// proxyDHCP server may still serve it.
	Answer bool
	// Reason says why, for logs and events, whether or not we answer.
	Reason string
	// BootFile goes into DHCP 'file' and option 67: a TFTP file name for
	// PXE ROMs, a URL for iPXE and HTTP-boot clients.
	BootFile string
	// NextServer goes into siaddr: the TFTP server.
	NextServer netip.Addr
}

// Decide chooses what the classified client cl boots next.
func (c Config) Decide(cl pxe.Client) Decision {
	if !cl.NetBoot() {
		return Decision{Reason: "not a network-boot client (no PXEClient or HTTPClient vendor class, not iPXE)"}
	}
	if cl.Arch == pxe.ArchUnknown {
		return Decision{Reason: "unknown client architecture (option 93 missing or not one we can boot)"}
	}
	d := Decision{Answer: true, NextServer: c.ServerIP}
	switch {
	case cl.IPXE:
		// iPXE already runs: hand it the menu, not iPXE again (the
		// chainload loop every iPXE how-to warns about).
		d.BootFile = c.MenuURL(cl.MAC, cl.Arch, cl.Features)
		d.Reason = "iPXE client: menu URL"
		return d
	case c.secureBoot(cl):
		// Its firmware refuses an unsigned iPXE (LoadImage: Security
		// Violation); the distribution's shim is signed by the UEFI CA.
		d.BootFile = c.SecureBootFile
		if cl.HTTPBoot {
			d.BootFile = c.HTTPBase + "/" + c.SecureBootFile
		}
		d.Reason = "Secure Boot machine: the signed shim, then GRUB"
		return d
	case cl.HTTPBoot:
		nbp, ok := c.firstNBP(cl.Arch)
		if !ok {
			return c.noNBP(cl.Arch)
		}
		// UEFI HTTP boot (UEFI spec 2.5+, arch types 15/16/19) wants a URL
		// in the boot file name, not a TFTP name.
		d.BootFile = c.HTTPBase + "/" + nbp
		d.Reason = "UEFI HTTP-boot client: iPXE over HTTP"
		return d
	default:
		nbp, ok := c.firstNBP(cl.Arch)
		if !ok {
			return c.noNBP(cl.Arch)
		}
		d.BootFile = nbp
		d.Reason = "PXE ROM: iPXE over TFTP"
		return d
	}
}

// secureBoot: a UEFI x86_64 client's firmware (not iPXE: an iPXE that runs
// under Secure Boot is signed, and gets its menu) on a machine marked
// Secure Boot, when there is a chain to give it.
func (c Config) secureBoot(cl pxe.Client) bool {
	return c.SecureBootFile != "" && c.SecureBoot != nil && cl.Arch == pxe.ArchEFIx8664 && c.SecureBoot(cl.MAC)
}

// firstNBP returns the most preferred NBP for arch that HasFile accepts.
func (c Config) firstNBP(arch pxe.Arch) (string, bool) {
	for _, name := range pxe.BootFiles(arch) {
		if c.HasFile == nil || c.HasFile(name) {
			return name, true
		}
	}
	return "", false
}

func (c Config) noNBP(arch pxe.Arch) Decision {
	dir := c.FirmwareDir
	if dir == "" {
		dir = "the firmware directory"
	}
	names := pxe.BootFiles(arch)
	if len(names) == 0 {
		return Decision{Reason: fmt.Sprintf("no iPXE build is known for %s", arch)}
	}
	return Decision{Reason: fmt.Sprintf("no iPXE build for %s: put one of %s in %s",
		arch, strings.Join(names, ", "), dir)}
}

// MenuFeatures are the iPXE feature flags the menu decides on, the ones
// MenuURL passes on: multiboot2 lets a UEFI client boot SmartOS.
var MenuFeatures = pxe.NewFeatures(pxe.FeatureMultiboot2)

// MenuURL is where an iPXE client fetches its generated menu:
// HTTPBase + "/boot.ipxe?mac=aa:bb:cc:dd:ee:ff&arch=bios", and
// "&features=multiboot2" when the client's DHCP request (option 175)
// advertised any of MenuFeatures: the menu request then says all the menu
// needs, whichever rackboot server answers it. MAC, arch and feature names
// hold only characters legal in a URL query (RFC 3986 §3.4).
func (c Config) MenuURL(mac net.HardwareAddr, arch pxe.Arch, features pxe.Features) string {
	u := c.HTTPBase + "/boot.ipxe?mac=" + mac.String() + "&arch=" + arch.String()
	if f := features.Intersect(MenuFeatures); !f.Empty() {
		u += "&features=" + f.String()
	}
	return u
}

// ChainScript is a tiny iPXE script that replaces itself with the menu at
// menuURL. It is what the TFTP server sends instead of an iPXE binary to a
// client that already runs iPXE (see LoopBreaker). "chain --autofree
// --replace" exists in Debian's iPXE 1.0.0+git-20190125 (the option strings
// are in its ipxe.efi and snponly.efi); when the chain fails the script says
// why and drops to the iPXE shell rather than rebooting into the loop.
func ChainScript(menuURL string) []byte {
	var b strings.Builder
	b.WriteString("#!ipxe\n")
	b.WriteString("echo rackboot: iPXE is already running, loading the menu\n")
	b.WriteString("chain --autofree --replace " + menuURL + " || goto failed\n")
	b.WriteString(":failed\n")
	b.WriteString("echo rackboot: could not load " + menuURL + "\n")
	b.WriteString("echo rackboot: is the rackboot HTTP server reachable from this machine?\n")
	b.WriteString("echo rackboot: type exit to try the next boot device\n")
	b.WriteString("shell\n")
	return []byte(b.String())
}
