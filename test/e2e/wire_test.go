//go:build linux

package e2e_test

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"rackboot/internal/dhcp4"
	"rackboot/test/e2e"
)

// TestWireStages splits a synthetic UEFI boot's capture (frames as QEMU's
// filter-dump writes them, behind a 10- or 12-byte vnet header) at the
// client's DHCP, TFTP and HTTP requests, and a BIOS one whose first DHCP is
// iPXE's already.
func TestWireStages(t *testing.T) {
	const mac = "52:54:00:12:34:56"
	client, _ := net.ParseMAC(mac)
	server, _ := net.ParseMAC("02:00:00:00:00:01")
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	dhcp := func(s float64, ipxe bool) e2e.Frame {
		p := &dhcp4.Packet{Op: 1, HType: 1, CHAddr: client, Options: dhcp4.Options{dhcp4.OptMessageType: {byte(dhcp4.Discover)}}}
		if ipxe {
			p.Options[dhcp4.OptIPXE] = []byte{0x19, 1, 1}
		}
		return frame(at(s), client, 17, 68, 67, p.Marshal(), 10)
	}
	ack := func(s float64) e2e.Frame {
		p := &dhcp4.Packet{Op: 2, HType: 1, CHAddr: client, Options: dhcp4.Options{dhcp4.OptMessageType: {byte(dhcp4.Ack)}}}
		return frame(at(s), server, 17, 67, 68, p.Marshal(), 0)
	}
	get := func(s float64, path string) e2e.Frame {
		return frame(at(s), client, 6, 40000, 80, []byte("GET "+path+" HTTP/1.1\r\n\r\n"), 12)
	}
	uefi := []e2e.Frame{
		dhcp(3, false), ack(6), frame(at(6.5), client, 17, 1536, 69, []byte("\x00\x01snponly.efi\x00octet\x00"), 10),
		dhcp(9, true), ack(10), get(11, "/boot.ipxe"), get(11.2, "/boot.ipxe"), get(12.5, "/memtest.efi"),
	}
	got, err := e2e.WireStages(viaPcap(t, uefi), mac, t0, at(13))
	want := []e2e.WireStage{
		{e2e.StageFirmware, 3 * time.Second}, {e2e.StagePXEDHCP, 3500 * time.Millisecond},
		{e2e.StageNBP, 2500 * time.Millisecond}, {e2e.StageIPXEDHCP, time.Second},
		{e2e.StageIPXEConfig, time.Second}, {e2e.StageMenu, 1500 * time.Millisecond}, {e2e.StageFiles, 500 * time.Millisecond},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("UEFI stages: %v, %v\nwant %v", got, err, want)
	}

	bios := []e2e.Frame{dhcp(2, true), ack(5), get(5.1, "/boot.ipxe"), get(6.2, "/unix")}
	got, err = e2e.WireStages(viaPcap(t, bios), mac, t0, at(7))
	want = []e2e.WireStage{
		{e2e.StageFirmware, 2 * time.Second}, {e2e.StageIPXEDHCP, 3 * time.Second},
		{e2e.StageIPXEConfig, 100 * time.Millisecond}, {e2e.StageMenu, 1100 * time.Millisecond}, {e2e.StageFiles, 800 * time.Millisecond},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("BIOS stages: %v, %v\nwant %v", got, err, want)
	}

	if _, err := e2e.WireStages(viaPcap(t, bios[:2]), mac, t0, at(7)); err == nil {
		t.Error("a capture without HTTP requests: no error")
	}
}

// frame builds an Ethernet/IPv4 UDP (proto 17) or TCP (6) frame from src
// behind a vnet header of hdr bytes, as filter-dump records it.
func frame(at time.Time, src net.HardwareAddr, proto byte, sport, dport uint16, payload []byte, hdr int) e2e.Frame {
	l4 := make([]byte, 8)
	if proto == 6 {
		l4 = make([]byte, 20)
		l4[12] = 5 << 4
	}
	binary.BigEndian.PutUint16(l4, sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	l4 = append(l4, payload...)
	ip := make([]byte, 20)
	ip[0], ip[9] = 0x45, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	eth := append(make([]byte, hdr), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}...)
	eth = append(eth, src...)
	eth = append(eth, 0x08, 0x00)
	return e2e.Frame{Time: at, Eth: append(append(eth, ip...), l4...)}
}

// viaPcap writes frames (vnet headers included) to a pcap file as QEMU's
// filter-dump does and reads them back with e2e.ReadPcap.
func viaPcap(t *testing.T, frames []e2e.Frame) []e2e.Frame {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	for _, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(f.Time.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(f.Time.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Eth)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Eth)))
		b = append(b, f.Eth...)
	}
	path := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e2e.ReadPcap(path)
	if err != nil || len(out) != len(frames) {
		t.Fatalf("ReadPcap: %d frames, %v; want %d", len(out), err, len(frames))
	}
	return out
}
