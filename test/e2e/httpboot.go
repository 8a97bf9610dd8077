//go:build linux

package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"rackboot/internal/dhcp4"
)

// UEFIHTTP is OVMF (q35, no option ROM, like UEFI) with its PXE boot options
// turned off, so that the first network boot option it tries on the NIC is
// "UEFI HTTPv4": EDK2's HttpBootDxe, whose DHCP carries vendor class
// "HTTPClient:Arch:00016" and which downloads the boot file from a URL.
const UEFIHTTP Firmware = "uefi-http"

// OVMFNoPXE are the fw_cfg files that make Debian's OVMF (edk2 2022.11) leave
// out its PXEv4 and PXEv6 boot options (OvmfPkg reads
// opt/org.tianocore/IPv4PXESupport and IPv6PXESupport into NetworkPkg's
// PcdIPv4PXESupport/PcdIPv6PXESupport). The NIC's boot options are then
// HTTPv4 and HTTPv6 only.
var OVMFNoPXE = []string{
	"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
	"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
}

// RunUEFIHTTP boots a UEFI HTTP-boot client on tap: RunUEFI's machine plus
// OVMFNoPXE. When pcap is not empty, QEMU also writes every frame the NIC
// sends or receives to that file (-object filter-dump), the evidence of what
// the firmware asked for.
func RunUEFIHTTP(ctx context.Context, t testing.TB, lab *Lab, tap, mac, serialPath, pcap string) *VM {
	t.Helper()
	extra := append([]string{}, OVMFNoPXE...)
	if pcap != "" {
		extra = append(extra, CaptureArgs(pcap)...)
	}
	return runOVMF(ctx, t, lab, UEFIHTTP, tap, mac, serialPath, extra)
}

// BootUEFIHTTP is Boot for UEFIHTTP: a new tap, a random MAC, the console in
// <Out>/<name>.serial and the NIC's frames in <Out>/<name>.pcap.
func (l *Lab) BootUEFIHTTP(ctx context.Context, t testing.TB, name string) *VM {
	t.Helper()
	tap := l.AddTap(t)
	serial := filepath.Join(l.Out, name+".serial")
	vm := RunUEFIHTTP(ctx, t, l, tap, RandomMAC(), serial, filepath.Join(l.Out, name+".pcap"))
	vm.Name = name
	return vm
}

// PcapDHCPRequests reads a pcap file of Ethernet frames (as filter-dump
// writes it) and returns the DHCP packets in it that go to the server port
// (67), in capture order: what the client sent.
func PcapDHCPRequests(path string) ([]*dhcp4.Packet, error) {
	frames, err := ReadPcap(path)
	var out []*dhcp4.Packet
	for _, f := range frames {
		if udp, ok := f.UDP(); ok && udp.DstPort == dhcp4.PortServer {
			if p, err := dhcp4.Parse(udp.Payload); err == nil {
				out = append(out, p)
			}
		}
	}
	return out, err
}
