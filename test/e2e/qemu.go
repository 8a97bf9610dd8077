//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// QEMUBinary is the emulator used for every client.
const QEMUBinary = "qemu-system-x86_64"

// Firmware is the kind of PXE client.
type Firmware string

const (
	// BIOS is SeaBIOS with QEMU's default virtio-net option ROM, which is
	// iPXE: its very first DHCP already carries user class "iPXE".
	BIOS Firmware = "bios"
	// UEFI is OVMF with no option ROM on the NIC, so EDK2's own PXE client
	// (arch 7) must TFTP an iPXE build and chainload it.
	UEFI Firmware = "uefi"
)

// OVMF firmware images (Debian's ovmf package); the pair must match in size.
var (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// VMTimeout bounds one boot: QEMU start to the success line. Software
// emulation on two cores measured ~20 s (BIOS) and 40–90 s (UEFI to
// memtest86+'s screen). RACKBOOT_E2E_BOOT_TIMEOUT (a Go duration) overrides it.
var VMTimeout = bootTimeoutFromEnv(3 * time.Minute)

// BootTimeoutEnv overrides VMTimeout.
const BootTimeoutEnv = "RACKBOOT_E2E_BOOT_TIMEOUT"

func bootTimeoutFromEnv(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(BootTimeoutEnv)); err == nil && d > 0 {
		return d
	}
	return def
}

// VM is a running QEMU client. It is killed at test cleanup or when the
// context given to RunBIOS/RunUEFI ends.
type VM struct {
	Name     string
	Firmware Firmware
	MAC      string
	Tap      string
	Console  *Console // COM1
	Started  time.Time
	Proc     *Process
}

// RandomMAC returns a locally administered unicast MAC in QEMU's 52:54:00 range.
func RandomMAC() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[0], b[1], b[2])
}

// RunBIOS boots a BIOS PXE client on tap with the given MAC, its serial
// console written to serialPath; extra are more QEMU arguments. SeaBIOS runs with graphics=off, which makes
// its serial console carry everything written to the screen (iPXE's
// messages), so the console shows the whole boot.
func RunBIOS(ctx context.Context, t testing.TB, lab *Lab, tap, mac, serialPath string, extra ...string) *VM {
	t.Helper()
	RequireCommands(t, QEMUBinary)
	return startVM(ctx, t, lab, BIOS, tap, mac, serialPath, append(biosArgs(mac), extra...))
}

// biosArgs is the BIOS client's machine: SeaBIOS and the NIC n0 with QEMU's
// default option ROM (iPXE). The KVM probe boots the same machine.
func biosArgs(mac string) []string {
	return []string{
		"-machine", "pc,graphics=off",
		"-m", "512",
		"-boot", "n",
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac),
	}
}

// RunUEFI boots a UEFI PXE client (OVMF, q35) on tap. The NIC has an empty
// romfile, so the PXE client is EDK2's own and iPXE must be chainloaded.
// extra are more QEMU arguments (CaptureArgs, say).
func RunUEFI(ctx context.Context, t testing.TB, lab *Lab, tap, mac, serialPath string, extra ...string) *VM {
	t.Helper()
	return runOVMF(ctx, t, lab, UEFI, tap, mac, serialPath, extra)
}

// runOVMF starts uefiArgs' machine, with a private copy of the OVMF
// variables beside serialPath, as firmware fw (what the VM is reported as).
func runOVMF(ctx context.Context, t testing.TB, lab *Lab, fw Firmware, tap, mac, serialPath string, extra []string) *VM {
	t.Helper()
	RequireCommands(t, QEMUBinary)
	RequireFiles(t, OVMFCode, OVMFVars)
	vars := serialPath + ".OVMF_VARS.fd"
	if err := copyFile(OVMFVars, vars); err != nil {
		t.Fatalf("copy OVMF variables: %v", err)
	}
	return startVM(ctx, t, lab, fw, tap, mac, serialPath, append(uefiArgs(mac, vars), extra...))
}

// uefiArgs is the UEFI client's machine: OVMF with its variables in vars (a
// private copy) and the NIC n0 without an option ROM. The KVM probe boots the
// same machine.
func uefiArgs(mac, vars string) []string {
	return []string{
		"-machine", "q35",
		"-m", "512",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,romfile=,bootindex=1", mac),
	}
}

// Boot is the short form: a new tap, a random MAC, the console in the lab's
// output directory as <name>.serial.
func (l *Lab) Boot(ctx context.Context, t testing.TB, fw Firmware, name string) *VM {
	t.Helper()
	return l.boot(ctx, t, fw, name)
}

// BootCaptured is Boot with the NIC's frames also written to
// <Out>/<name>.pcap (CaptureArgs), for WireStages.
func (l *Lab) BootCaptured(ctx context.Context, t testing.TB, fw Firmware, name string) *VM {
	t.Helper()
	return l.boot(ctx, t, fw, name, CaptureArgs(filepath.Join(l.Out, name+".pcap"))...)
}

func (l *Lab) boot(ctx context.Context, t testing.TB, fw Firmware, name string, extra ...string) *VM {
	t.Helper()
	tap := l.AddTap(t)
	serial := filepath.Join(l.Out, name+".serial")
	var vm *VM
	switch fw {
	case BIOS:
		vm = RunBIOS(ctx, t, l, tap, RandomMAC(), serial, extra...)
	case UEFI:
		vm = RunUEFI(ctx, t, l, tap, RandomMAC(), serial, extra...)
	default:
		t.Fatalf("unknown firmware %q", fw)
	}
	vm.Name = name
	return vm
}

func startVM(ctx context.Context, t testing.TB, lab *Lab, fw Firmware, tap, mac, serialPath string, fwArgs []string) *VM {
	t.Helper()
	RequireAccel(t)
	name := strings.TrimSuffix(filepath.Base(serialPath), ".serial")
	argv := append([]string{QEMUBinary, "-name", "rbe2e-" + name}, AccelArgs()...)
	argv = append(argv,
		"-smp", "1",
		"-display", "none",
		"-monitor", "none",
		"-no-reboot",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		// The test kernel powers off through this port: QEMU exits (v<<1)|1.
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-serial", "file:"+serialPath,
	)
	argv = append(argv, fwArgs...)
	_ = os.Remove(serialPath)
	vm := &VM{Name: name, Firmware: fw, MAC: mac, Tap: tap, Console: &Console{Path: serialPath}}
	logPath := serialPath + ".qemu.log"
	vm.Started = time.Now()
	p, err := startProcess("qemu-"+name, logPath, lab.Server.Command(argv...))
	if err != nil {
		t.Fatal(err)
	}
	vm.Proc = p
	t.Cleanup(p.Stop)
	go func() {
		select {
		case <-ctx.Done():
			p.Stop()
		case <-p.Done():
		}
	}()
	lab.AddLog(name+" QEMU", logPath, false)
	lab.AddLog(name+" serial console", serialPath, true)
	t.Logf("started %s client %s (mac %s, %s, accel %s)", fw, name, mac, tap, Accel())
	return vm
}

// WaitFor waits for re on the serial console, at most VMTimeout (and no
// longer than ctx), and returns the match.
func (vm *VM) WaitFor(ctx context.Context, re *regexp.Regexp) (string, error) {
	return vm.WaitForEvery(ctx, re, pollInterval)
}

// WaitForEvery is WaitFor looking at the console every d.
func (vm *VM) WaitForEvery(ctx context.Context, re *regexp.Regexp, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, VMTimeout)
	defer cancel()
	return vm.Console.WaitForEvery(ctx, re, vm.Proc.Done(), d)
}

// WaitBoot waits for the success line re, fails t if it does not come, and
// logs how long the boot took ("boot <name> took <duration>").
func (vm *VM) WaitBoot(ctx context.Context, t testing.TB, re *regexp.Regexp) time.Duration {
	t.Helper()
	if _, err := vm.WaitFor(ctx, re); err != nil {
		t.Fatalf("%s client %s did not boot: %v", vm.Firmware, vm.Name, err)
	}
	took := time.Since(vm.Started).Round(100 * time.Millisecond)
	t.Logf("boot %s took %s (%s, %s)", vm.Name, took, vm.Firmware, Accel())
	return took
}

// Count returns how often re occurs on the console so far.
func (vm *VM) Count(re *regexp.Regexp) int { return vm.Console.Count(re) }

// Text returns the console so far as plain text.
func (vm *VM) Text() string { return vm.Console.Text() }

// Stop kills QEMU.
func (vm *VM) Stop() { vm.Proc.Stop() }

// ExitCode waits (at most d) for QEMU to exit and returns its status. The
// test kernel makes QEMU exit with 33 after "RBK done".
func (vm *VM) ExitCode(d time.Duration) (int, error) {
	select {
	case <-vm.Proc.Done():
		_, code := vm.Proc.Exited()
		return code, nil
	case <-time.After(d):
		return 0, fmt.Errorf("%s still running after %s", vm.Name, d)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
