//go:build linux

package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"rackboot/internal/dhcp4"
)

// CaptureArgs makes QEMU write every frame NIC n0 sends or receives to path
// (pcap, -object filter-dump): the client's side of the wire, with QEMU's
// own timestamps, whichever servers answer it.
func CaptureArgs(path string) []string {
	return []string{"-object", fmt.Sprintf("filter-dump,id=dump0,netdev=n0,file=%s", path)}
}

// Frame is one captured Ethernet frame.
type Frame struct {
	Time time.Time
	Eth  []byte // from the destination MAC on
}

// ReadPcap reads a pcap file of Ethernet frames as filter-dump writes it.
// QEMU 7.2's filter-dump on a tap netdev writes each frame behind the
// virtio-net header (vnet_hdr) it carries inside QEMU: 10 bytes, or 12 when
// the guest's driver negotiated mergeable receive buffers or virtio 1.0
// (iPXE's ROM under SeaBIOS does, for the frames it sends). The header is
// dropped where an IPv4 or IPv6 EtherType follows two MAC addresses only
// after it. A truncated last record ends the list with an error (QEMU killed
// mid-write); the frames before it are returned.
func ReadPcap(path string) ([]Frame, error) {
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
	var out []Frame
	for off := 24; off+16 <= len(b); {
		sec, usec := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			return out, errors.New("pcap: truncated record")
		}
		out = append(out, Frame{Time: time.Unix(int64(sec), int64(usec)*1000), Eth: stripVnetHdr(b[off : off+n])})
		off += n
	}
	return out, nil
}

func stripVnetHdr(f []byte) []byte {
	for _, hdr := range []int{0, 10, 12} {
		if len(f) < hdr+14 {
			break
		}
		if t := binary.BigEndian.Uint16(f[hdr+12:]); t == 0x0800 || t == 0x86dd {
			return f[hdr:]
		}
	}
	return f
}

// Src is the frame's source MAC address.
func (f Frame) Src() net.HardwareAddr {
	if len(f.Eth) < 14 {
		return nil
	}
	return net.HardwareAddr(f.Eth[6:12])
}

// Segment is a UDP datagram's or TCP segment's ports and payload.
type Segment struct {
	SrcPort, DstPort uint16
	Payload          []byte
}

// UDP decodes an IPv4 UDP frame.
func (f Frame) UDP() (Segment, bool) { return f.ipv4(17, 8) }

// TCP decodes an IPv4 TCP frame.
func (f Frame) TCP() (Segment, bool) { return f.ipv4(6, 0) }

func (f Frame) ipv4(proto byte, hdr int) (Segment, bool) {
	if len(f.Eth) < 14+20 || binary.BigEndian.Uint16(f.Eth[12:]) != 0x0800 {
		return Segment{}, false
	}
	ip := f.Eth[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ip[9] != proto || ihl < 20 || len(ip) < ihl+8 {
		return Segment{}, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total < ihl || total > len(ip) {
		total = len(ip) // a capture may hold the Ethernet padding, or less
	}
	l4 := ip[ihl:total]
	if proto == 6 {
		if len(l4) < 20 {
			return Segment{}, false
		}
		hdr = int(l4[12]>>4) * 4
		if hdr < 20 || hdr > len(l4) {
			return Segment{}, false
		}
	}
	return Segment{SrcPort: binary.BigEndian.Uint16(l4), DstPort: binary.BigEndian.Uint16(l4[2:]), Payload: l4[hdr:]}, true
}

// ICMPv6Type is the type of an ICMPv6 frame (133: router solicitation, 134:
// router advertisement), or 0.
func (f Frame) ICMPv6Type() byte {
	if len(f.Eth) < 14+40+1 || binary.BigEndian.Uint16(f.Eth[12:]) != 0x86dd || f.Eth[14+6] != 58 {
		return 0
	}
	return f.Eth[14+40]
}

// WireStage is one stage of a network boot as the client's wire shows it.
type WireStage struct {
	Name string
	Took time.Duration
}

// The stages WireStages reports, in boot order. A stage the boot did not go
// through (BIOS under QEMU: the NIC's ROM is iPXE already, so no PXE DHCP and
// no TFTP) is left out.
const (
	StageFirmware   = "firmware"        // power-on to the first DHCPDISCOVER
	StagePXEDHCP    = "PXE DHCP"        // the firmware's DHCP, to its TFTP request
	StageNBP        = "iPXE over TFTP"  // TFTP of iPXE and iPXE's start, to iPXE's DHCPDISCOVER
	StageIPXEDHCP   = "iPXE DHCP"       // iPXE's DHCP, to its DHCPACK
	StageIPXEConfig = "iPXE net config" // DHCPACK to the first HTTP request: IPv6 autoconfiguration
	StageMenu       = "menu"            // the menu's request to the next one: fetch, show, timeout
	StageFiles      = "files and start" // the rest, to the success line on the console
)

// WireStages splits a boot from started (power-on) to ended (the success
// line) at what the client with MAC mac sent and got: its first DHCP
// request, its first TFTP read request, iPXE's first DHCP request (the one
// with option 175), the DHCPACK that ends iPXE's DHCP, its first HTTP
// request and the next one for another path. Missing marks merge stages.
func WireStages(frames []Frame, mac string, started, ended time.Time) ([]WireStage, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	var firstDHCP, rrq, ipxeDHCP, ipxeAck, firstGET, nextGET time.Time
	var firstPath string
	for _, f := range frames {
		from := bytes.Equal(f.Src(), hw)
		if u, ok := f.UDP(); ok {
			switch {
			case from && u.DstPort == dhcp4.PortServer:
				p, err := dhcp4.Parse(u.Payload)
				if err != nil {
					continue
				}
				if firstDHCP.IsZero() {
					firstDHCP = f.Time
				}
				if ipxeDHCP.IsZero() && p.Options.Has(dhcp4.OptIPXE) {
					ipxeDHCP = f.Time
				}
			case from && u.DstPort == 69 && rrq.IsZero():
				rrq = f.Time
			case !from && u.SrcPort == dhcp4.PortServer && !ipxeDHCP.IsZero() && ipxeAck.IsZero():
				if p, err := dhcp4.Parse(u.Payload); err == nil && bytes.Equal(p.CHAddr, hw) && p.MessageType() == dhcp4.Ack {
					ipxeAck = f.Time
				}
			}
			continue
		}
		if s, ok := f.TCP(); ok && from && bytes.HasPrefix(s.Payload, []byte("GET ")) {
			path, _, _ := strings.Cut(string(s.Payload[4:]), " ")
			switch {
			case firstGET.IsZero():
				firstGET, firstPath = f.Time, path
			case nextGET.IsZero() && path != firstPath:
				nextGET = f.Time
			}
		}
	}
	marks := []struct {
		name string
		at   time.Time
	}{
		{StageFirmware, firstDHCP}, {StagePXEDHCP, rrq}, {StageNBP, ipxeDHCP}, {StageIPXEDHCP, ipxeAck},
		{StageIPXEConfig, firstGET}, {StageMenu, nextGET}, {StageFiles, ended},
	}
	if ipxeDHCP.Equal(firstDHCP) { // the firmware's DHCP is iPXE's
		marks[0].name = StageFirmware
		marks = append(marks[:1], marks[3:]...)
	}
	var out []WireStage
	prev := started
	for _, m := range marks {
		if m.at.IsZero() || m.at.Before(prev) {
			continue
		}
		out = append(out, WireStage{Name: m.name, Took: m.at.Sub(prev)})
		prev = m.at
	}
	if firstDHCP.IsZero() || firstGET.IsZero() {
		return out, fmt.Errorf("capture of %s lacks its DHCP or its HTTP requests", mac)
	}
	return out, nil
}
