package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// bootTimeout bounds each rackboot test (one boot, plus set-up).
const bootTimeout = 5 * time.Minute

// rackbootLab is a lab with two SmartOS platforms in a data directory, the
// network's own DHCP server (dnsmasq on a host at .2) and rackboot on the
// server address.
type rackbootLab struct {
	*e2e.Lab
	rb       *e2e.Rackboot
	dhcp     *e2e.Dnsmasq
	newest   e2e.Fixture // the default SmartOS item boots this one
	previous e2e.Fixture
}

// configFor is the rackboot configuration these tests use; def is
// menu.default ("" leaves rackboot's default: the newest SmartOS build).
func configFor(def string) e2e.RackbootConfig {
	return e2e.RackbootConfig{
		MenuTitle:    "rackboot e2e",
		MenuTimeout:  time.Second,
		MenuDefault:  def,
		Console:      "text",
		RootPassword: rootPassword,
		BootArgs:     bootArgs,
		MemtestBIOS:  "/boot/memtest86+x64.bin",
		MemtestEFI:   "/boot/memtest86+x64.efi",
	}
}

// The network's DHCP server: a plain router, or set up as in the seed blog.
const (
	plainDHCP = false
	seedDHCP  = true
)

func newRackbootLab(t *testing.T, mode string, seedStyle bool, cfg e2e.RackbootConfig) *rackbootLab {
	t.Helper()
	e2e.RequireVM(t)
	bin := needRackboot(t)
	e2e.RequireCommands(t, "dnsmasq")
	e2e.RequireFiles(t, filepath.Join(e2e.IPXEDir, "undionly.kpxe"), filepath.Join(e2e.IPXEDir, "snponly.efi"))
	ctx := testContext(t, time.Minute)
	l := &rackbootLab{Lab: e2e.NewLab(t)}
	data := filepath.Join(l.Out, "data")
	l.previous = e2e.MakePlatform(t, data, oldBuild)
	l.newest = e2e.MakePlatform(t, data, newBuild)
	dhcp := e2e.PlainRouter()
	if seedStyle {
		dhcp = e2e.SeedStyle(l.ServerIP) // every PXE client is sent to rackboot for TFTP
	}
	l.dhcp = e2e.StartDnsmasq(ctx, t, l.Lab, l.AddHost(t, "dhcp", l.Addr(2)), dhcp)
	l.rb = e2e.StartRackboot(ctx, t, l.Lab, e2e.RackbootOptions{Binary: bin, DHCPMode: mode, DataDir: data, Config: cfg})
	return l
}

// TestBIOSBootsSmartOS: beside a plain DHCP server (no boot options),
// rackboot's proxyDHCP sends the BIOS client's iPXE to its menu, whose
// default item boots the newest SmartOS platform with the configured -B
// arguments and the boot archive intact.
func TestBIOSBootsSmartOS(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	ctx := testContext(t, bootTimeout)
	l := newRackbootLab(t, "proxy", plainDHCP, configFor(""))
	vm := l.Boot(ctx, t, e2e.BIOS, "bios")
	vm.WaitBoot(ctx, t, e2e.KernelDone)
	checkSmartOSBoot(t, vm, smartOSBoot{fx: l.newest, password: rootPassword, bootArgs: bootArgs})
	checkNoLoop(t, vm, 2)
}

// TestUEFIBootsMemtest: beside a plain DHCP server, OVMF's own PXE client
// gets snponly.efi from rackboot over TFTP, iPXE fetches the menu over HTTP,
// and the menu's default (memtest, from the configuration) starts
// memtest86+x64.efi, which draws on the serial console.
func TestUEFIBootsMemtest(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	e2e.RequireFiles(t, "/boot/memtest86+x64.efi")
	ctx := testContext(t, bootTimeout)
	l := newRackbootLab(t, "proxy", plainDHCP, configFor("memtest"))
	vm := l.Boot(ctx, t, e2e.UEFI, "uefi")
	waitMemtest(ctx, t, vm)
	checkNoLoop(t, vm, 1)
}

// TestCoexistence: the network's DHCP server is set up as in the seed blog
// (next-server = rackboot, file undionly.kpxe or snponly.efi for everyone),
// which loops with a plain TFTP server (TestSeedStackLoops). With rackboot in
// proxy mode or with its DHCP off, both clients boot instead: BIOS the
// newest SmartOS, UEFI memtest86+.
func TestCoexistence(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	for _, mode := range []string{"proxy", "off"} {
		for _, fw := range []e2e.Firmware{e2e.BIOS, e2e.UEFI} {
			t.Run(mode+"/"+string(fw), func(t *testing.T) {
				t.Parallel()
				if fw == e2e.UEFI {
					e2e.RequireFiles(t, "/boot/memtest86+x64.efi")
				}
				ctx := testContext(t, bootTimeout)
				def := ""
				if fw == e2e.UEFI {
					def = "memtest" // UEFI iPXE cannot boot multiboot kernels
				}
				l := newRackbootLab(t, mode, seedDHCP, configFor(def))
				vm := l.Boot(ctx, t, fw, mode+"-"+string(fw))
				if fw == e2e.BIOS {
					vm.WaitBoot(ctx, t, e2e.KernelDone)
					checkSmartOSBoot(t, vm, smartOSBoot{fx: l.newest, password: rootPassword, bootArgs: bootArgs})
				} else {
					waitMemtest(ctx, t, vm)
				}
				// BIOS: the option ROM's iPXE, perhaps one more from TFTP;
				// UEFI: the chainloaded snponly.efi, perhaps once more.
				checkNoLoop(t, vm, 2)
				checkLoopBroken(t, l)
				t.Logf("seed-style DHCP server sent %d DHCPACKs to %s", l.dhcp.Acks(vm.MAC), vm.MAC)
			})
		}
	}
}

// checkLoopBroken proves the boot went through the loop breaker: the
// seed-style DHCP server told iPXE to fetch iPXE again, and rackboot's TFTP
// answered with the chain script instead (its boot-step log says so).
func checkLoopBroken(t *testing.T, l *rackbootLab) {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(l.Out, "rackboot.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "chain_script=true") {
		t.Errorf("rackboot never sent the chain script in place of iPXE: the loop breaker did not act")
	}
}
