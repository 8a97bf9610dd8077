package target

import (
	"fmt"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

func init() {
	// Made by rackboot, one pair per platform in the catalog (rackboot
	// platform import), not written under targets[].
	register(Kind{Name: "smartos", Firmware: "BIOS; UEFI x86_64 with an iPXE that has multiboot2",
		Doc: "a SmartOS platform: two items per imported build, smartos-<build> and smartos-<build>-noimport"})
}

// SmartOS boots one platform build: unix as a multiboot kernel, the boot
// archive as a module, and its hash when the build has one.
type SmartOS struct {
	Platform smartos.Platform
	NoImport bool
	Args     []string // the kernel's arguments: kmdb's flags, -B and its list
}

// SmartOSID is the item id that boots build; SmartOSNoImportID boots it
// without importing the zpool.
func SmartOSID(build string) string         { return "smartos-" + build }
func SmartOSNoImportID(build string) string { return "smartos-" + build + "-noimport" }

func (t *SmartOS) ID() string {
	if t.NoImport {
		return SmartOSNoImportID(t.Platform.Build)
	}
	return SmartOSID(t.Platform.Build)
}

func (t *SmartOS) Title() string {
	if t.NoImport {
		return "Boot SmartOS " + t.Platform.Build + " noimport"
	}
	return "Boot SmartOS " + t.Platform.Build
}

// CanMultiboot reports whether an iPXE of this arch with these features can
// start SmartOS's kernel, a multiboot one: every BIOS build can (upstream's
// multiboot, feature 0x19); on UEFI only a build with multiboot2 (feature
// 0x2a, TritonDataCenter/ipxe) can, and only on x86_64, the one processor
// SmartOS runs on. Unknown firmware is offered SmartOS: a UEFI iPXE then
// fails visibly.
func CanMultiboot(arch pxe.Arch, features pxe.Features) bool {
	if arch.Firmware != pxe.UEFI {
		return true
	}
	return arch == pxe.ArchEFIx8664 && features.Has(pxe.FeatureMultiboot2)
}

func (t *SmartOS) Offered(c Client) error {
	switch {
	case c.SecureBoot:
		return errNotOffered("needs Secure Boot off (SmartOS is not signed)")
	case !CanMultiboot(c.Arch, c.Features):
		return errNotOffered("needs BIOS boot (CSM), or a UEFI iPXE with multiboot2")
	}
	return nil
}

// Commands are the kernel and module lines, for the multiboot length
// check and for IPXE. The archive goes as "type=rootfs name=ramdisk" and
// its SHA-1 as "type=hash name=ramdisk", the way SmartOS's own netboot
// menus do (TritonDataCenter sdc-booter, smartos-netboot-server): illumos's
// dboot reads them to find the root file system and check it.
func (t *SmartOS) Commands(l Loader) (kernel ipxe.Command, modules []ipxe.Command) {
	pl := t.Platform
	kernel = ipxe.Kernel(l.URL(pl.KernelPath), t.Args...).OrGoto("failed")
	modules = []ipxe.Command{ipxe.Module(l.URL(pl.ArchivePath), "type=rootfs", "name=ramdisk").OrGoto("failed")}
	if pl.HasHash {
		modules = append(modules, ipxe.Module(l.URL(pl.HashPath), "type=hash", "name=ramdisk").OrGoto("failed"))
	}
	return kernel, modules
}

// CheckLength refuses lines iPXE would cut: its BIOS build passes at most
// ipxe.MultibootCmdlineMax bytes to a multiboot kernel and drops the rest
// silently.
func (t *SmartOS) CheckLength(l Loader) error {
	kernel, modules := t.Commands(l)
	if n := ipxe.MultibootCmdlineLen(kernel, modules...); n > ipxe.MultibootCmdlineMax {
		return fmt.Errorf("SmartOS %s: the kernel and module lines need %d bytes, but iPXE passes at most %d to a multiboot kernel and cuts the rest off silently: use a shorter base URL (%s) or fewer boot arguments",
			t.Platform.Build, n, ipxe.MultibootCmdlineMax, l.BaseURL)
	}
	return nil
}

func (t *SmartOS) IPXE(l Loader, _ Client) []ipxe.Stmt {
	what := "SmartOS " + t.Platform.Build
	if t.NoImport {
		what += " (noimport: the zpool is not imported)"
	}
	kernel, modules := t.Commands(l)
	body := []ipxe.Stmt{ipxe.Echo("Booting " + what), ipxe.Imgfree(), kernel}
	for _, m := range modules {
		body = append(body, m)
	}
	return append(body, ipxe.Boot().OrGoto("failed"))
}

// Files: the platforms are served by their own mount (smartos/), whole.
func (t *SmartOS) Files() []File { return nil }
