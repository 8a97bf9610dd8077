package e2e_test

// Harness self-tests: the same clients, kernel and fixtures as the rackboot
// tests, booted from a stand-in stack (dnsmasq that knows iPXE's user class,
// tftpd-hpa, busybox httpd with a hand-written script), so a failure here is
// the harness's or the machine's, never rackboot's.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/GehirnInc/crypt/sha256_crypt"

	"rackboot/test/e2e"
)

// standIn is the stand-in boot stack: dnsmasq on a host at .2 handing iPXE
// clients the URL of boot.ipxe, TFTP of iPXE for UEFI firmware, and busybox
// httpd on the server address serving www.
type standIn struct {
	lab  *e2e.Lab
	www  string // document root
	base string // http://<server>:8080
}

func newStandIn(t *testing.T, lab *e2e.Lab, script string) *standIn {
	t.Helper()
	e2e.RequireCommands(t, "dnsmasq", "in.tftpd", "busybox")
	ctx := testContext(t, time.Minute)
	s := &standIn{lab: lab, www: filepath.Join(lab.Out, "www")}
	addr := netip.AddrPortFrom(lab.ServerIP, 8080)
	s.base = "http://" + addr.String()
	if err := os.MkdirAll(s.www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.www, "boot.ipxe"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	tftpRoot := filepath.Join(lab.Out, "tftp")
	e2e.CopyIPXE(t, tftpRoot)
	e2e.StartTFTPD(ctx, t, lab, lab.ServerIP, tftpRoot)
	e2e.StartHTTPD(ctx, t, lab, lab.Server, addr, s.www)
	dhcp := lab.AddHost(t, "dhcp", lab.Addr(2))
	e2e.StartDnsmasq(ctx, t, lab, dhcp, e2e.DHCPServer{
		NextServer: lab.ServerIP,
		IPXEScript: s.base + "/boot.ipxe",
	})
	return s
}

// TestHarnessBIOSBootsTestKernel boots the fake SmartOS platform on the BIOS
// client with the seed's kernel/module lines, proving the kernel, fixture,
// QEMU runner and report checks work without rackboot.
func TestHarnessBIOSBootsTestKernel(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	e2e.RequireVM(t)
	ctx := testContext(t, 4*time.Minute)
	lab := e2e.NewLab(t)
	www := filepath.Join(lab.Out, "www")
	fx := e2e.MakePlatform(t, www, newBuild)
	base := fmt.Sprintf("http://%s:8080", lab.ServerIP)
	shadow, err := sha256_crypt.New().Generate([]byte(rootPassword), []byte("$5$rbke2e"))
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!ipxe
kernel %[1]s%[2]s -B console=text,root_shadow='%[5]s',smartos=true,rbk_e2e=yes
module %[1]s%[3]s type=rootfs name=ramdisk
module %[1]s%[4]s type=hash name=ramdisk
boot
`, base, fx.Kernel.URLPath, fx.Archive.URLPath, fx.Hash.URLPath, shadow)
	newStandIn(t, lab, script)

	vm := lab.Boot(ctx, t, e2e.BIOS, "bios")
	vm.WaitBoot(ctx, t, e2e.KernelDone)
	checkSmartOSBoot(t, vm, smartOSBoot{fx: fx, password: rootPassword, bootArgs: bootArgs, requireHash: true})
	checkNoLoop(t, vm, 1)
}

// TestHarnessUEFIBootsMemtest boots memtest86+ on the UEFI client: EDK2's PXE
// client TFTPs snponly.efi, which fetches a script over HTTP that starts
// memtest86+x64.efi on the serial console.
func TestHarnessUEFIBootsMemtest(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	e2e.RequireVM(t)
	e2e.RequireFiles(t, "/boot/memtest86+x64.efi")
	ctx := testContext(t, 4*time.Minute)
	lab := e2e.NewLab(t)
	base := fmt.Sprintf("http://%s:8080", lab.ServerIP)
	s := newStandIn(t, lab, fmt.Sprintf("#!ipxe\nkernel %s/memtest.efi console=ttyS0,115200\nboot\n", base))
	if err := copyFileT(t, "/boot/memtest86+x64.efi", filepath.Join(s.www, "memtest.efi")); err != nil {
		t.Fatal(err)
	}

	vm := lab.Boot(ctx, t, e2e.UEFI, "uefi")
	waitMemtest(ctx, t, vm)
	checkNoLoop(t, vm, 1)
}

func copyFileT(t *testing.T, src, dst string) error {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
