//go:build linux

package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// AccelEnv forces QEMU's accelerator: "kvm" or "tcg". Unset (or "auto"), the
// harness chooses by what works: KVM only if firmware runs under it.
const AccelEnv = "RACKBOOT_E2E_ACCEL"

// AccelChoice is the accelerator every QEMU client of this test binary uses,
// and why it was chosen (said in the test logs).
type AccelChoice struct {
	Accel  string // "kvm" or "tcg"
	Reason string
	Err    error // a bad RACKBOOT_E2E_ACCEL; Accel is then "tcg"
}

// String is the line the harness logs: "accelerator tcg: <reason>".
func (c AccelChoice) String() string {
	if c.Err != nil {
		return fmt.Sprintf("accelerator not chosen: %v", c.Err)
	}
	return fmt.Sprintf("accelerator %s: %s", c.Accel, c.Reason)
}

// probeResult is what booting one firmware under KVM showed.
type probeResult struct {
	Firmware Firmware
	OK       bool   // the firmware got as far as sending DHCP
	Detail   string // what was seen, or what was missing
}

// chooseAccel is the decision, without side effects. override is
// RACKBOOT_E2E_ACCEL; kvmErr is the error opening /dev/kvm (nil: it opens);
// probes are the KVM probe's results, one per firmware (nil: not run).
//
// /dev/kvm existing is not enough: under nested virtualisation SeaBIOS's iPXE
// stops at "Press Ctrl-B for the iPXE command line.." and OVMF prints nothing
// (no timer ticks reach the guest), while a kernel started with -kernel runs.
// So KVM is used only when both firmwares were seen reaching their DHCP under
// it; TCG always works.
func chooseAccel(override string, kvmErr error, probes []probeResult) AccelChoice {
	switch v := strings.ToLower(strings.TrimSpace(override)); v {
	case "kvm":
		c := AccelChoice{Accel: "kvm", Reason: "forced by " + AccelEnv + "=kvm, no probe"}
		if kvmErr != nil {
			c.Reason += fmt.Sprintf(" (but %v: QEMU will refuse to start)", kvmErr)
		}
		return c
	case "tcg":
		return AccelChoice{Accel: "tcg", Reason: "forced by " + AccelEnv + "=tcg, no probe"}
	case "", "auto":
	default:
		return AccelChoice{Accel: "tcg", Err: fmt.Errorf("%s=%q: want kvm, tcg or auto (unset)", AccelEnv, override)}
	}
	if kvmErr != nil {
		return AccelChoice{Accel: "tcg", Reason: fmt.Sprintf("no usable /dev/kvm (%v)", kvmErr)}
	}
	if len(probes) == 0 {
		return AccelChoice{Accel: "tcg", Reason: "kvm probe: not run"}
	}
	var failed, passed []string
	for _, p := range probes {
		s := fmt.Sprintf("%s: %s", p.Firmware, p.Detail)
		if p.OK {
			passed = append(passed, s)
		} else {
			failed = append(failed, s)
		}
	}
	if len(failed) > 0 {
		return AccelChoice{Accel: "tcg", Reason: "kvm probe: " + strings.Join(failed, "; ")}
	}
	return AccelChoice{Accel: "kvm", Reason: "kvm probe: " + strings.Join(passed, "; ")}
}

// Accelerator returns this test binary's choice, deciding it on first use:
// RACKBOOT_E2E_ACCEL if set, else TCG without a usable /dev/kvm, else the KVM
// probe (ProbeKVM: BIOS and UEFI firmware booted under KVM, at most
// probeTimeout each, side by side). The choice is printed once to stderr.
var Accelerator = sync.OnceValue(func() AccelChoice {
	override := os.Getenv(AccelEnv)
	kvmErr := openKVM()
	var probes []probeResult
	if v := strings.ToLower(strings.TrimSpace(override)); (v == "" || v == "auto") && kvmErr == nil {
		probes = ProbeKVM()
	}
	c := chooseAccel(override, kvmErr, probes)
	fmt.Fprintf(os.Stderr, "e2e: %s\n", c)
	return c
})

func openKVM() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// Accel returns the accelerator QEMU uses: "kvm" or "tcg".
func Accel() string { return Accelerator().Accel }

// AccelArgs returns QEMU's accelerator arguments: "-accel kvm -cpu host" or
// "-accel tcg". These are also what the probe runs with.
func AccelArgs() []string { return accelArgs(Accel()) }

func accelArgs(accel string) []string {
	if accel == "kvm" {
		return []string{"-accel", "kvm", "-cpu", "host"}
	}
	return []string{"-accel", "tcg"}
}

var logAccelOnce sync.Once

// RequireAccel fails t if RACKBOOT_E2E_ACCEL is malformed, and logs the
// choice in the first test that starts a VM.
func RequireAccel(t testing.TB) {
	t.Helper()
	c := Accelerator()
	if c.Err != nil {
		t.Fatalf("%v", c.Err)
	}
	first := false
	logAccelOnce.Do(func() { first = true })
	if first {
		t.Logf("e2e: %s", c)
	}
}
