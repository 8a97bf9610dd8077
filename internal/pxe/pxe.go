// Package pxe classifies network-boot clients from what they say in DHCP
// (options 60, 77, 93, 97 and iPXE's 175) and names the iPXE build each kind of
// firmware must load. Everything here is a pure function of its arguments.
package pxe

import (
	"fmt"
	"net"
	"strings"
)

// Firmware is the kind of boot firmware a client runs.
type Firmware string

const (
	BIOS Firmware = "bios"
	UEFI Firmware = "efi"
)

// Arch is a client's firmware and processor, written the way iPXE spells its
// own ${platform} and ${buildarch} settings so that one name serves in URLs,
// menus and logs: "bios", "efi-i386", "efi-x86_64", "efi-arm32", "efi-arm64".
type Arch struct {
	Firmware Firmware
	CPU      string // "i386" for BIOS; i386, x86_64, arm32, arm64 for UEFI
}

var (
	ArchBIOS     = Arch{BIOS, "i386"}
	ArchEFIi386  = Arch{UEFI, "i386"}
	ArchEFIx8664 = Arch{UEFI, "x86_64"}
	ArchEFIARM32 = Arch{UEFI, "arm32"}
	ArchEFIARM64 = Arch{UEFI, "arm64"}
	ArchUnknown  = Arch{}
	knownArches  = []Arch{ArchBIOS, ArchEFIi386, ArchEFIx8664, ArchEFIARM32, ArchEFIARM64}
)

func (a Arch) String() string {
	switch {
	case a == ArchUnknown:
		return "unknown"
	case a.Firmware == BIOS:
		return "bios"
	default:
		return string(a.Firmware) + "-" + a.CPU
	}
}

// ParseArch reads the String form of an Arch.
func ParseArch(s string) (Arch, error) {
	for _, a := range knownArches {
		if a.String() == s {
			return a, nil
		}
	}
	return ArchUnknown, fmt.Errorf("unknown arch %q (want one of bios, efi-i386, efi-x86_64, efi-arm32, efi-arm64)", s)
}

// ArchFromIPXE maps iPXE's own ${platform} and ${buildarch} settings
// ("pcbios"/"efi", "i386"/"x86_64"/"arm64"...) to an Arch.
func ArchFromIPXE(platform, buildarch string) (Arch, error) {
	switch platform {
	case "pcbios":
		return ArchBIOS, nil
	case "efi":
		return ParseArch("efi-" + buildarch)
	}
	return ArchUnknown, fmt.Errorf("unknown iPXE platform %q", platform)
}

// archByType is the IANA "Processor Architecture Types" registry (RFC 4578
// §2.1, extended by RFC 5970 and IANA), restricted to what we can boot.
// HTTP-boot types (15, 16, 19) are the same firmware fetching over HTTP.
var archByType = map[uint16]struct {
	arch Arch
	http bool
}{
	0:  {ArchBIOS, false},
	6:  {ArchEFIi386, false},
	7:  {ArchEFIx8664, false},
	9:  {ArchEFIx8664, false}, // "EFI BC": old EDK2 and some HP ROMs send 9 for x64.
	10: {ArchEFIARM32, false},
	11: {ArchEFIARM64, false},
	15: {ArchEFIi386, true},
	16: {ArchEFIx8664, true},
	18: {ArchEFIARM32, true},
	19: {ArchEFIARM64, true},
}

// Request is what a DHCP packet tells about its sender, already decoded.
type Request struct {
	MAC         net.HardwareAddr
	VendorClass string   // option 60
	ArchTypes   []uint16 // option 93, in the client's order
	UserClasses []string // option 77 (RFC 3004), or iPXE's single-string form
	IPXEOptions bool     // option 175 present: iPXE's encapsulated options
	IPXEEncap   []byte   // option 175's contents (ParseIPXEOptions reads its feature flags)
	UUID        []byte   // option 97, type byte included
}

// Client is a classified boot client.
type Client struct {
	MAC      net.HardwareAddr
	Arch     Arch
	PXE      bool // option 60 begins "PXEClient": firmware that wants a boot program
	HTTPBoot bool // option 60 begins "HTTPClient": UEFI HTTP boot, wants a URL
	IPXE     bool // the client is iPXE already: give it the menu, not iPXE again
	// Features are the iPXE build's feature flags from option 175 (empty
	// for a client that is not iPXE, or whose option 175 says none).
	// Malformed option 175 bytes give the flags read before the fault.
	Features Features
	UUID     []byte
}

// NetBoot reports whether the client asked to be network-booted at all;
// proxyDHCP answers nobody else (PXE spec 2.1 §2.2.5).
func (c Client) NetBoot() bool { return c.PXE || c.HTTPBoot || c.IPXE }

// Classify decides what kind of boot client sent r.
func Classify(r Request) Client {
	c := Client{MAC: r.MAC, UUID: r.UUID}
	c.PXE = strings.HasPrefix(r.VendorClass, "PXEClient")
	c.HTTPBoot = strings.HasPrefix(r.VendorClass, "HTTPClient")
	for _, uc := range r.UserClasses {
		if uc == "iPXE" {
			c.IPXE = true
		}
	}
	// iPXE always sends option 175 (its feature flags); a build with a
	// stripped user class is still iPXE.
	c.IPXE = c.IPXE || r.IPXEOptions || len(r.IPXEEncap) > 0
	c.Features, _ = ParseIPXEOptions(r.IPXEEncap)
	c.Arch = ArchUnknown
	if len(r.ArchTypes) > 0 {
		if t, ok := archByType[r.ArchTypes[0]]; ok {
			c.Arch = t.arch
			c.HTTPBoot = c.HTTPBoot || t.http
		}
	} else if c.PXE || c.HTTPBoot {
		// Option 93 is mandatory for PXE (RFC 4578 §2.1) but early BIOS ROMs omit
		// it; the vendor class "PXEClient:Arch:00000:..." then carries the arch.
		c.Arch = archFromVendorClass(r.VendorClass)
	}
	return c
}

// archFromVendorClass reads "PXEClient:Arch:00007:UNDI:003016".
func archFromVendorClass(vc string) Arch {
	parts := strings.Split(vc, ":")
	if len(parts) >= 3 && parts[1] == "Arch" {
		var n uint16
		if _, err := fmt.Sscanf(parts[2], "%05d", &n); err == nil {
			if t, ok := archByType[n]; ok {
				return t.arch
			}
			// It names an arch, one we cannot boot (IA64, XScale...):
			// an x86 BIOS build would only crash it.
			return ArchUnknown
		}
	}
	return ArchBIOS // PXE 2.1 ROMs that say nothing are x86 BIOS.
}

// BootFiles lists the iPXE builds the arch's firmware can load over TFTP,
// most preferred first. snponly.efi drives the NIC through the firmware's own
// SNP driver, which works on every UEFI NIC; ipxe.efi carries iPXE's drivers.
// undionly.kpxe likewise uses the PXE ROM's UNDI driver.
func BootFiles(a Arch) []string {
	switch a {
	case ArchBIOS:
		return []string{"undionly.kpxe", "undionly.kkpxe", "ipxe.pxe"}
	case ArchEFIx8664:
		return []string{"snponly.efi", "ipxe.efi"}
	case ArchEFIi386:
		return []string{"i386/snponly.efi", "i386/ipxe.efi"}
	case ArchEFIARM64:
		return []string{"arm64/snponly.efi", "arm64/ipxe.efi", "ipxe-arm64.efi", "snp-arm64.efi"}
	case ArchEFIARM32:
		return []string{"arm32/snponly.efi", "arm32/ipxe.efi"}
	}
	return nil
}
