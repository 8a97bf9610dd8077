package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// What the Debian installer prints on the serial console (console=ttyS0):
// the kernel's first line, then the installer's first screen, drawn by
// cdebconf's newt frontend: its language question, or with 512 MiB (the
// BIOS machine) the "Entering low memory mode" notice before it.
var (
	kernelFirstLine = regexp.MustCompile(`Linux version 6\.1\.\S+ \(debian-kernel@lists\.debian\.org\)`)
	installerUp     = regexp.MustCompile(`Select a language|Choose language|Entering low memory mode`)
	// The kernel says so when it was started with Secure Boot on.
	kernelSecureBoot = regexp.MustCompile(`secureboot: Secure boot enabled`)
)

// installerTarget is the Debian 12 installer as a linux target, its kernel
// signed for Debian's shim (so Secure Boot machines are offered it too),
// from what rackboot os import put in the data directory; the signed chain
// for Secure Boot machines comes from there too.
const installerTarget = `  - id: debian-installer
    title: Debian 12 installer
    linux:
      kernel: os/debian-12-amd64/debian-installer/amd64/linux
      initrd: [os/debian-12-amd64/debian-installer/amd64/initrd.gz]
      cmdline: "console=ttyS0,115200 priority=low"
      secure_boot: true
`

const importedChain = `secure_boot:
  shim: os/debian-12-amd64/debian-installer/amd64/bootnetx64.efi
  grub: os/debian-12-amd64/debian-installer/amd64/grubx64.efi
  grub_prefix: debian-installer/amd64/grub
`

// importInstaller runs rackboot os import of a netboot.tar.gz made from
// debian-installer-12-netboot-amd64's files (Debian's netboot.tar.gz is
// not packaged) into data.
func importInstaller(t *testing.T, bin, out, data string) {
	t.Helper()
	tgz := e2e.DebianNetbootTarball(t, out)
	cmd := exec.Command(bin, "os", "import", tgz, "--data-dir", data)
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "imported debian-12-amd64 (debian-netboot amd64, 12 (bookworm)") {
		t.Fatalf("rackboot os import: %v\n%s", err, b)
	}
	t.Logf("$ rackboot os import %s\n%s", tgz, b)
}

// targetsLab is rackboot in proxy mode beside a plain DHCP server, with the
// installer as a target and menu.default. nextServer makes that DHCP server
// set next-server (siaddr) to rackboot, and nothing else. prepare, when
// set, puts files in place and returns more targets.
func targetsLab(t *testing.T, nextServer bool, prepare func(l *e2e.Lab, data string) string) (*e2e.Lab, *e2e.Rackboot, string) {
	t.Helper()
	e2e.RequireVM(t)
	bin := needRackboot(t)
	e2e.RequireCommands(t, "dnsmasq")
	e2e.RequireFiles(t, filepath.Join(e2e.IPXEDir, "undionly.kpxe"), filepath.Join(e2e.IPXEDir, "snponly.efi"),
		filepath.Join(e2e.DebianNetboot, "linux"), filepath.Join(e2e.DebianNetboot, "initrd.gz"),
		filepath.Join(e2e.DebianNetboot, "bootnetx64.efi"), filepath.Join(e2e.DebianNetboot, "grubx64.efi"))
	ctx := testContext(t, time.Minute)
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	importInstaller(t, bin, l.Out, data)
	extraTargets := ""
	if prepare != nil {
		extraTargets = prepare(l, data)
	}
	dhcp := e2e.PlainRouter()
	if nextServer {
		// ISC's "next-server", Kea's next-server: siaddr only, no file.
		dhcp.Extra = []string{"--dhcp-boot=,," + l.ServerIP.String()}
	}
	e2e.StartDnsmasq(ctx, t, l, l.AddHost(t, "dhcp", l.Addr(2)), dhcp)
	cfg := configFor("debian-installer")
	cfg.ExtraYAML = importedChain + "targets:\n" + installerTarget + extraTargets
	rb := e2e.StartRackboot(ctx, t, l, e2e.RackbootOptions{Binary: bin, DHCPMode: "proxy", DataDir: data, Config: cfg})
	return l, rb, bin
}

// cli runs the rackboot CLI against rb.
func cli(ctx context.Context, t *testing.T, bin string, rb *e2e.Rackboot, args ...string) string {
	t.Helper()
	argv := append([]string{bin}, args...)
	argv = append(argv, "--server", rb.URL, "--data-dir", rb.DataDir)
	out, err := rb.NS.Exec(ctx, argv...)
	if err != nil {
		t.Fatalf("rackboot %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("$ rackboot %s\n%s", strings.Join(args, " "), out)
	return out
}

// waitInstaller waits for the kernel's first line and the installer's first
// screen on vm's console.
func waitInstaller(ctx context.Context, t *testing.T, vm *e2e.VM) {
	t.Helper()
	if m, err := vm.WaitFor(ctx, kernelFirstLine); err != nil {
		t.Fatalf("%s: no kernel line on the console: %v", vm.Name, err)
	} else {
		t.Logf("%s: %s (after %s)", vm.Name, m, time.Since(vm.Started).Round(time.Second))
	}
	vm.WaitBoot(ctx, t, installerUp)
}

// waitBootedKernel waits for the machine's registry entry to hold a boot
// that ended "booted kernel" with the installer's kernel: its timeline
// followed the target's kernel and initrd.
func waitBootedKernel(ctx context.Context, t *testing.T, rb *e2e.Rackboot, mac string) {
	t.Helper()
	var m machineJSON
	waitFor(ctx, t, time.Minute, mac+"'s boot recorded as \"booted kernel\"", func() bool {
		m = machineJSON{}
		getJSON(ctx, t, rb, "/api/v1/machines/"+mac, &m)
		for _, b := range m.Boots {
			if b.Result == "booted kernel" && b.Kernel == "targets/debian-installer/linux" {
				return true
			}
		}
		return false
	})
	t.Logf("%s: %+v", mac, m.Boots[len(m.Boots)-1])
}

// TestInstallerTargetUEFI: OVMF's PXE client gets snponly.efi, iPXE the
// menu, and the menu's default, the installer as a linux target, boots:
// kernel and initrd over HTTP, the initrd handed over as initrd=initrd.gz.
func TestInstallerTargetUEFI(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*bootTimeout)
	l, rb, _ := targetsLab(t, false, nil)
	vm := l.BootWithMAC(ctx, t, e2e.UEFI, "uefi-installer", e2e.RandomMAC())
	waitInstaller(ctx, t, vm)
	checkNoLoop(t, vm, 1)
	waitBootedKernel(ctx, t, rb, vm.MAC)
}

// TestTargetsBIOS: one BIOS machine walks every other kind of target, each
// leading to the next, and ends in the installer:
//
//  1. its boot-once is the iso target (iPXE's own ipxe.iso): iPXE sanboots
//     it over HTTP and the ISO's iPXE prints its banner (a second one);
//  2. that iPXE asks rackboot again and gets the machine's default, the
//     ipxe target: the operator's script runs (its marker) and chains the
//     menu of another MAC,
//  3. whose default is the chain target: a script on another host of the
//     lab runs (its marker) and chains the menu of a third MAC,
//  4. which has the configuration's default: the Debian installer, a
//     linux target, up to its first screen.
func TestTargetsBIOS(t *testing.T) {
	t.Parallel()
	e2e.RequireFiles(t, filepath.Join(e2e.IPXEDir, "ipxe.iso"))
	ctx := testContext(t, 2*bootTimeout)
	const chainMAC = "02:00:00:00:e2:02"
	extra := `  - id: rescue-iso
    title: iPXE as an ISO
    iso: {file: ` + filepath.Join(e2e.IPXEDir, "ipxe.iso") + `}
  - id: lab-script
    title: The lab's script
    ipxe: {file: scripts/lab.ipxe}
  - id: netchain
    title: Another menu
    chain: {url: "%s/chain.ipxe"}
`
	l, rb, bin := targetsLab(t, false, func(l *e2e.Lab, data string) string {
		// The other host's web server, with the chained script.
		host := l.AddHost(t, "web", l.Addr(3))
		dir := filepath.Join(l.Out, "www")
		os.MkdirAll(dir, 0o755)
		web := fmt.Sprintf("http://%s:8081", host.IP)
		server := fmt.Sprintf("http://%s:%d", l.ServerIP, e2e.RackbootHTTPPort)
		writeFile(t, filepath.Join(dir, "chain.ipxe"), "#!ipxe\necho E2E chain target reached on ${mac}\n"+
			"chain "+server+"/boot.ipxe?mac=02:00:00:00:e2:03&arch=bios\n")
		e2e.StartHTTPD(ctx, t, l, host.NS, netip.AddrPortFrom(host.IP, 8081), dir)
		writeFile(t, filepath.Join(data, "scripts", "lab.ipxe"), "#!ipxe\necho E2E ipxe target reached on ${mac}\n"+
			"chain "+server+"/boot.ipxe?mac="+chainMAC+"&arch=bios\n")
		return fmt.Sprintf(extra, web)
	})

	mac := e2e.RandomMAC()
	cli(ctx, t, bin, rb, "machines", "set", mac, "--default", "lab-script")
	cli(ctx, t, bin, rb, "machines", "boot-once", mac, "rescue-iso")
	cli(ctx, t, bin, rb, "machines", "set", chainMAC, "--default", "netchain")

	vm := l.BootWithMAC(ctx, t, e2e.BIOS, "bios-targets", mac)
	for _, step := range []struct {
		what string
		re   *regexp.Regexp
	}{
		{"the ISO's iPXE (sanboot)", regexp.MustCompile(`(?s)iPXE 1\.\S+ -- Open Source Network Boot Firmware.*iPXE 1\.\S+ -- Open Source Network Boot Firmware`)},
		{"the ipxe target's script", regexp.MustCompile(`E2E ipxe target reached on ` + mac)},
		{"the chain target's script", regexp.MustCompile(`E2E chain target reached on ` + mac)},
	} {
		if _, err := vm.WaitFor(ctx, step.re); err != nil {
			t.Fatalf("%s: %s never ran: %v", vm.Name, step.what, err)
		}
		t.Logf("%s: %s ran (after %s)", vm.Name, step.what, time.Since(vm.Started).Round(time.Second))
	}
	waitInstaller(ctx, t, vm)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSecureBoot: one UEFI machine with Secure Boot on (OVMF with
// Microsoft's keys), booted twice, as an operator would meet it:
//
//  1. not marked, it gets iPXE as any UEFI machine does, and its firmware
//     refuses to run it ("Access Denied"): no iPXE, no kernel. That is what
//     the signed chain is for, and what keeps this test able to fail. It
//     starts over and asks for iPXE again; rackboot warns with the command
//     that marks it;
//  2. marked (rackboot machines set MAC --secure-boot yes), the same
//     machine gets Debian's signed shim, which fetches the signed GRUB from
//     the TFTP root, which reads rackboot's grub.cfg, sources the machine's
//     own and boots its default, the installer, whose signed kernel says
//     Secure Boot is on and reaches the installer's first screen.
//
// The network's DHCP server sets next-server to rackboot (see targetsLab):
// Debian's GRUB 2.06 takes its TFTP server from the DHCP server's ACK
// (siaddr), not from rackboot's proxy offer as shim does (README).
func TestSecureBoot(t *testing.T) {
	t.Parallel()
	e2e.RequireFiles(t, filepath.Join(e2e.DebianNetboot, "bootnetx64.efi"), filepath.Join(e2e.DebianNetboot, "grubx64.efi"))
	ctx := testContext(t, 2*bootTimeout)
	l, rb, bin := targetsLab(t, true, nil)
	mac := e2e.RandomMAC()

	// 1. Not marked: iPXE, refused.
	vm := l.BootSecureBoot(ctx, t, "secureboot-ipxe", mac)
	refused := regexp.MustCompile(`Access Denied|Security Violation`)
	if m, err := vm.WaitFor(ctx, refused); err != nil {
		t.Fatalf("%s: the firmware never refused iPXE: %v", vm.Name, err)
	} else {
		t.Logf("%s: %q after %s", vm.Name, m, time.Since(vm.Started).Round(time.Second))
	}
	d := waitFor(ctx, t, 4*time.Minute, "rackboot's Secure Boot warning", func() bool {
		return countLines(rb.Output(), "Secure Boot refuses an unsigned iPXE", "mac="+mac, "--secure-boot yes") > 0
	})
	t.Logf("rackboot warned about %s %s after the refusal; snponly.efi fetched %d times (TFTP), %d (HTTP boot)", mac, d.Round(time.Second),
		countLines(rb.Output(), "tftp: transfer done", "file=snponly.efi"), countLines(rb.Output(), "boot step", "via=http", "file=snponly.efi", "status=200"))
	if n := vm.Count(e2e.IPXEBanner); n != 0 || kernelFirstLine.MatchString(vm.Text()) {
		t.Errorf("%s: iPXE ran %d times, or a kernel started, under Secure Boot", vm.Name, n)
	}
	vm.Stop()

	// 2. Marked: the signed chain, to the installer.
	cli(ctx, t, bin, rb, "machines", "set", mac, "--secure-boot", "yes")
	vm = l.BootSecureBoot(ctx, t, "secureboot-shim", mac)
	waitInstaller(ctx, t, vm)
	if !kernelSecureBoot.MatchString(vm.Text()) {
		t.Errorf("%s: the kernel does not say %q: was Secure Boot on?", vm.Name, kernelSecureBoot)
	}
	log := rb.Output()
	for _, name := range []string{"bootnetx64.efi", "grubx64.efi", "debian-installer/amd64/grub/grub.cfg",
		"debian-installer/amd64/grub/rackboot/" + mac + ".cfg", "targets/debian-installer/linux", "targets/debian-installer/initrd.gz"} {
		if n := countLines(log, "tftp: transfer done", "file="+name); n == 0 {
			t.Errorf("rackboot's log has no finished TFTP transfer of %s", name)
		}
	}
	if n := vm.Count(e2e.IPXEBanner); n != 0 {
		t.Errorf("%s: iPXE ran %d times", vm.Name, n)
	}
	waitBootedKernel(ctx, t, rb, mac)
}

// countLines counts the lines of text holding every one of subs.
func countLines(text string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}
