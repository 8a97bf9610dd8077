//go:build linux

package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
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
	RequireCommands(t, QEMUBinary)
	RequireFiles(t, OVMFCode, OVMFVars)
	vars := serialPath + ".OVMF_VARS.fd"
	if err := copyFile(OVMFVars, vars); err != nil {
		t.Fatalf("copy OVMF variables: %v", err)
	}
	args := append(uefiArgs(mac, vars), OVMFNoPXE...)
	if pcap != "" {
		args = append(args, "-object", fmt.Sprintf("filter-dump,id=dump0,netdev=n0,file=%s", pcap))
	}
	return startVM(ctx, t, lab, UEFIHTTP, tap, mac, serialPath, args)
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
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, errors.New("pcap: short file header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: bad magic %x", b[:4])
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want 1 (Ethernet)", lt)
	}
	var out []*dhcp4.Packet
	for off := 24; off+16 <= len(b); {
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			return out, errors.New("pcap: truncated record")
		}
		if p := dhcpToServer(b[off : off+n]); p != nil {
			out = append(out, p)
		}
		off += n
	}
	return out, nil
}

// dhcpToServer decodes an Ethernet/IPv4/UDP frame to port 67, or returns nil.
// QEMU 7.2's filter-dump on a tap netdev writes each frame behind the
// 10-byte virtio-net header (vnet_hdr) it carries inside QEMU; the frame is
// taken to start where an IPv4 EtherType follows the two MAC addresses.
func dhcpToServer(f []byte) *dhcp4.Packet {
	switch {
	case len(f) >= 14 && binary.BigEndian.Uint16(f[12:]) == 0x0800:
	case len(f) >= 10+14 && binary.BigEndian.Uint16(f[10+12:]) == 0x0800:
		f = f[10:]
	default:
		return nil
	}
	if len(f) < 14+20+8 {
		return nil
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ip[9] != 17 || len(ip) < ihl+8 {
		return nil
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:]) != dhcp4.PortServer {
		return nil
	}
	p, err := dhcp4.Parse(udp[8:])
	if err != nil {
		return nil
	}
	return p
}
