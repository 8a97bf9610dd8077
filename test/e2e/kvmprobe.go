//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// probeTimeout bounds each firmware's KVM probe. Where KVM works, SeaBIOS's
// iPXE and OVMF send their first DHCP within about 2 s; even under TCG on two
// cores they do in about 2.6 s and 4.7 s.
const probeTimeout = 10 * time.Second

// ProbeKVM boots each firmware the tests use (SeaBIOS with QEMU's iPXE ROM,
// and OVMF) under KVM, side by side, and reports whether it got as far as its
// DHCP within probeTimeout. Where firmware gets no timer ticks under KVM
// (nested virtualisation), iPXE never leaves its "Press Ctrl-B" prompt and OVMF
// never starts PXE, so no DHCP is sent.
//
// The NIC is QEMU's user network with restrict=on: the guest's DHCP is
// answered by QEMU itself and nothing can leave QEMU. Its frames are captured
// with filter-dump, so the probe needs no console output from the firmware.
// As root, QEMU also runs in a fresh, empty network namespace.
func ProbeKVM() []probeResult {
	fws := []Firmware{BIOS, UEFI}
	res := make([]probeResult, len(fws))
	dir, err := os.MkdirTemp("", "rbe2e-kvmprobe-")
	if err != nil {
		for i, fw := range fws {
			res[i] = probeResult{Firmware: fw, Detail: err.Error()}
		}
		return res
	}
	defer os.RemoveAll(dir)
	var wg sync.WaitGroup
	for i, fw := range fws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = probeFirmware(fw, "kvm", dir, probeTimeout)
		}()
	}
	wg.Wait()
	return res
}

// probeFirmware runs one firmware under accel until it sends DHCP, QEMU
// exits, or timeout passes. The tests run it under TCG too, to show that a
// probe failing under KVM is the firmware's doing, not the probe's.
func probeFirmware(fw Firmware, accel, dir string, timeout time.Duration) probeResult {
	r := probeResult{Firmware: fw}
	pcap := filepath.Join(dir, string(fw)+"-"+accel+".pcap")
	serial := filepath.Join(dir, string(fw)+"-"+accel+".serial")
	mac := "52:54:00:00:00:01"
	var fwArgs []string
	switch fw {
	case BIOS:
		fwArgs = biosArgs(mac)
	case UEFI:
		for _, p := range []string{OVMFCode, OVMFVars} {
			if _, err := os.Stat(p); err != nil {
				r.Detail = fmt.Sprintf("not run: %v", err)
				return r
			}
		}
		vars := filepath.Join(dir, "OVMF_VARS-"+accel+".fd")
		if err := copyFile(OVMFVars, vars); err != nil {
			r.Detail = fmt.Sprintf("not run: copy OVMF variables: %v", err)
			return r
		}
		fwArgs = uefiArgs(mac, vars)
	}
	argv := append([]string{QEMUBinary, "-name", "rbe2e-kvmprobe-" + string(fw)}, accelArgs(accel)...)
	argv = append(argv,
		"-smp", "1",
		"-display", "none",
		"-monitor", "none",
		"-no-reboot",
		"-netdev", "user,id=n0,restrict=on",
		"-object", "filter-dump,id=d0,netdev=n0,file="+pcap,
		"-serial", "file:"+serial,
	)
	argv = append(argv, fwArgs...)
	if canUnshareNet() {
		argv = append([]string{"unshare", "--net", "--"}, argv...)
	}
	var stderr strings.Builder
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Detail = fmt.Sprintf("not run: %v", err)
		return r
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			if b, _ := os.ReadFile(pcap); pcapHasDHCP(b) {
				r.OK, r.Detail = true, fmt.Sprintf("sent DHCP after %s", roundSec(time.Since(start)))
				return r
			}
			r.Detail = fmt.Sprintf("QEMU exited after %s (%v) before any DHCP: %s",
				roundSec(time.Since(start)), err, firstLine(stderr.String()))
			return r
		case <-tick.C:
			if b, _ := os.ReadFile(pcap); pcapHasDHCP(b) {
				r.OK, r.Detail = true, fmt.Sprintf("sent DHCP after %s", roundSec(time.Since(start)))
				return r
			}
		case <-deadline:
			raw, _ := os.ReadFile(serial)
			console := lastLine(ScreenText(raw))
			if console == "" {
				console = "(empty)"
			}
			r.Detail = fmt.Sprintf("no DHCP in %s; console ends %q", timeout, console)
			return r
		}
	}
}

// canUnshareNet reports whether `unshare --net` works here (root, and not
// refused by a container's seccomp or capabilities).
var canUnshareNet = sync.OnceValue(func() bool {
	return os.Geteuid() == 0 && exec.Command("unshare", "--net", "--", "true").Run() == nil
})

func roundSec(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

// firstLine and lastLine return the first or last non-blank line of s, at
// most 100 bytes of it.
func firstLine(s string) string { return pickLine(s, true) }
func lastLine(s string) string  { return pickLine(s, false) }

func pickLine(s string, first bool) string {
	var pick string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			pick = l
			if first {
				break
			}
		}
	}
	if len(pick) > 100 {
		pick = pick[:100] + "..."
	}
	return pick
}

// pcapHasDHCP reports whether a pcap capture (as QEMU's filter-dump writes
// it: Ethernet frames, either byte order) holds a DHCPv4 request (UDP to port
// 67) or a DHCPv6 one (UDP to port 547). A record cut short at the end (the
// file is read while QEMU writes it) is ignored.
func pcapHasDHCP(b []byte) bool {
	if len(b) < 24 {
		return false
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d: // microsecond and nanosecond timestamps
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return false
	}
	if bo.Uint32(b[20:]) != 1 { // link type Ethernet
		return false
	}
	for b = b[24:]; len(b) >= 16; {
		n := int(bo.Uint32(b[8:]))
		if n > len(b)-16 {
			return false
		}
		if frameIsDHCP(b[16 : 16+n]) {
			return true
		}
		b = b[16+n:]
	}
	return false
}

// frameIsDHCP reports whether an Ethernet frame is UDP to a DHCP server port.
func frameIsDHCP(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	ethType, p := binary.BigEndian.Uint16(f[12:]), f[14:]
	var udp []byte
	switch {
	case ethType == 0x0800 && len(p) >= 20 && p[0]>>4 == 4 && p[9] == 17:
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 || len(p) < ihl+8 {
			return false
		}
		udp = p[ihl:]
		return binary.BigEndian.Uint16(udp[2:]) == 67
	case ethType == 0x86dd && len(p) >= 48 && p[6] == 17: // no extension headers
		udp = p[40:]
		return binary.BigEndian.Uint16(udp[2:]) == 547
	}
	return false
}
