//go:build linux

package e2e

import (
	"encoding/binary"
	"io/fs"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestChooseAccel(t *testing.T) {
	noDev := &fs.PathError{Op: "open", Path: "/dev/kvm", Err: fs.ErrNotExist}
	biosOK := probeResult{Firmware: BIOS, OK: true, Detail: "sent DHCP after 1.1s"}
	uefiOK := probeResult{Firmware: UEFI, OK: true, Detail: "sent DHCP after 1.9s"}
	biosStuck := probeResult{Firmware: BIOS, Detail: `no DHCP in 10s; console ends "iPXE (PCI 00:03.0) starting execution.."`}
	uefiSilent := probeResult{Firmware: UEFI, Detail: `no DHCP in 10s; console ends "(empty)"`}
	uefiMissing := probeResult{Firmware: UEFI, Detail: "not run: stat /usr/share/OVMF/OVMF_CODE_4M.fd: no such file or directory"}
	crashed := probeResult{Firmware: BIOS, Detail: "QEMU exited after 0.2s (exit status 134) before any DHCP: ...Assertion failed"}

	for _, tc := range []struct {
		name     string
		override string
		kvmErr   error
		probes   []probeResult
		want     string // accelerator; "" = an error
		reason   []string
	}{
		{"no device", "", noDev, nil, "tcg", []string{"no usable /dev/kvm", "does not exist"}},
		{"device, firmware runs", "", nil, []probeResult{biosOK, uefiOK}, "kvm", []string{"kvm probe", "bios: sent DHCP", "uefi: sent DHCP"}},
		{"nested: iPXE stuck, OVMF silent", "", nil, []probeResult{biosStuck, uefiSilent}, "tcg", []string{"bios: no DHCP", "starting execution", "uefi: no DHCP"}},
		{"only OVMF broken", "", nil, []probeResult{biosOK, uefiSilent}, "tcg", []string{"uefi: no DHCP"}},
		{"only iPXE broken", "", nil, []probeResult{biosStuck, uefiOK}, "tcg", []string{"bios: no DHCP"}},
		{"QEMU crashes under kvm", "", nil, []probeResult{crashed, uefiOK}, "tcg", []string{"QEMU exited"}},
		{"OVMF not installed", "", nil, []probeResult{biosOK, uefiMissing}, "tcg", []string{"uefi: not run"}},
		{"probe not run", "", nil, nil, "tcg", []string{"not run"}},
		{"auto is the default", "auto", nil, []probeResult{biosOK, uefiOK}, "kvm", []string{"kvm probe"}},
		{"forced tcg beats a working kvm", "tcg", nil, []probeResult{biosOK, uefiOK}, "tcg", []string{"forced by RACKBOOT_E2E_ACCEL=tcg"}},
		{"forced kvm beats the probe", "kvm", nil, []probeResult{biosStuck, uefiSilent}, "kvm", []string{"forced by RACKBOOT_E2E_ACCEL=kvm"}},
		{"forced kvm without a device", "kvm", noDev, nil, "kvm", []string{"forced", "QEMU will refuse"}},
		{"case and spaces", " TCG ", nil, nil, "tcg", []string{"forced"}},
		{"unknown value", "hvf", nil, nil, "", []string{`RACKBOOT_E2E_ACCEL="hvf"`, "want kvm, tcg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := chooseAccel(tc.override, tc.kvmErr, tc.probes)
			if tc.want == "" {
				if c.Err == nil {
					t.Fatalf("chooseAccel = %v, want an error", c)
				}
			} else if c.Err != nil || c.Accel != tc.want {
				t.Fatalf("chooseAccel = %v (err %v), want %s", c, c.Err, tc.want)
			}
			for _, s := range tc.reason {
				if !strings.Contains(c.String(), s) {
					t.Errorf("%q lacks %q", c.String(), s)
				}
			}
		})
	}
}

func TestAccelArgs(t *testing.T) {
	if got := strings.Join(accelArgs("kvm"), " "); got != "-accel kvm -cpu host" {
		t.Errorf("kvm: %q", got)
	}
	if got := strings.Join(accelArgs("tcg"), " "); got != "-accel tcg" {
		t.Errorf("tcg: %q", got)
	}
}

// pcapFile builds a capture as QEMU's filter-dump writes it (host order,
// little-endian here, link type Ethernet).
func pcapFile(frames ...[]byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, 1)
	for _, f := range frames {
		b = le.AppendUint32(b, 1)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(len(f)))
		b = le.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func udpFrame(v6 bool, dport uint16) []byte {
	f := make([]byte, 12, 128) // MACs
	be := binary.BigEndian
	if v6 {
		f = be.AppendUint16(f, 0x86dd)
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, 17, 1
		f = append(f, ip...)
	} else {
		f = be.AppendUint16(f, 0x0800)
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		f = append(f, ip...)
	}
	f = be.AppendUint16(f, 68)
	f = be.AppendUint16(f, dport)
	f = be.AppendUint16(f, 8)
	return be.AppendUint16(f, 0)
}

func TestPcapHasDHCP(t *testing.T) {
	arp := append(make([]byte, 12), 0x08, 0x06, 0, 1)
	dhcp4, dhcp6, dns := udpFrame(false, 67), udpFrame(true, 547), udpFrame(false, 53)
	full := pcapFile(arp, dns, dhcp4)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty file", nil, false},
		{"header only (firmware sent nothing)", pcapFile(), false},
		{"ARP and DNS only", pcapFile(arp, dns), false},
		{"DHCPv4 after others", full, true},
		{"DHCPv6", pcapFile(dhcp6), true},
		{"IPv6 to another port", pcapFile(udpFrame(true, 53)), false},
		{"DHCPv4 record cut short", full[:len(full)-4], false},
		{"runt frame", pcapFile([]byte{1, 2, 3}), false},
		{"not a pcap", []byte(strings.Repeat("x", 64)), false},
	} {
		if got := pcapHasDHCP(tc.b); got != tc.want {
			t.Errorf("%s: pcapHasDHCP = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Big-endian captures (filter-dump on a big-endian host) read the same.
	be := pcapFile(dhcp4)
	for _, off := range []int{0, 20, 24 + 8, 24 + 12} {
		v := binary.LittleEndian.Uint32(be[off:])
		binary.BigEndian.PutUint32(be[off:], v)
	}
	if !pcapHasDHCP(be) {
		t.Error("big-endian capture: DHCP not found")
	}
}

// TestProbeSeesFirmwareUnderTCG runs the probe under TCG, where firmware
// always runs: a probe that could not see a DHCP would choose TCG everywhere
// and nobody would notice.
func TestProbeSeesFirmwareUnderTCG(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots firmware")
	}
	if _, err := exec.LookPath(QEMUBinary); err != nil {
		unavailable(t, "%s not found", QEMUBinary)
	}
	RequireFiles(t, OVMFCode, OVMFVars)
	dir := t.TempDir()
	res := make(chan probeResult, 2)
	for _, fw := range []Firmware{BIOS, UEFI} {
		go func() { res <- probeFirmware(fw, "tcg", dir, time.Minute) }()
	}
	for range 2 {
		r := <-res
		t.Logf("%s under tcg: %s", r.Firmware, r.Detail)
		if !r.OK {
			t.Errorf("%s: the probe saw no DHCP under TCG: %s", r.Firmware, r.Detail)
		}
	}
}

// TestAccelerator runs the decision as the VM tests will (the KVM probe
// included when /dev/kvm opens and RACKBOOT_E2E_ACCEL is unset) and logs it:
// `go test -v -run TestAccelerator ./test/e2e/` tells what this host gets.
func TestAccelerator(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the KVM probe boots firmware for up to 10 s")
	}
	if _, err := exec.LookPath(QEMUBinary); err != nil {
		unavailable(t, "%s not found", QEMUBinary)
	}
	c := Accelerator()
	t.Logf("e2e: %s", c)
	if c.Err != nil {
		t.Fatal(c.Err)
	}
}
