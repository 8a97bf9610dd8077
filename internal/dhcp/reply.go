package dhcp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
)

// PXE vendor options (PXE spec 2.1 §2.4, option 43 encapsulation).
const (
	pxeDiscoveryControl = 6    // PXE_DISCOVERY_CONTROL
	pxeSkipDiscovery    = 0x08 // bit 3: boot file name is in this packet, no boot server discovery
)

// maxFileField is what fits in BOOTP's 128-byte 'file' field with its NUL.
const maxFileField = 127

// BuildReply builds the proxyDHCP answer (PXE spec 2.1 §2.2.5) to req: a
// DHCPOFFER to a DHCPDISCOVER, a DHCPACK to a DHCPREQUEST. It carries no
// address (yiaddr 0.0.0.0: the real DHCP server leases that), only where to
// boot from:
//
//   - siaddr = d.NextServer (serverIP when unset), option 54 = serverIP.
//     iPXE (src/net/udp/dhcp.c dhcp_has_pxeopts) takes a proxy offer that has
//     a next-server and a boot file as complete and skips the
//     ProxyDHCPREQUEST to port 4011; EDK2 sends that request to siaddr.
//   - option 60 "PXEClient", without which neither PXE ROMs nor iPXE treat the
//     packet as a proxy offer; "HTTPClient" to a UEFI HTTP-boot client, which
//     ignores offers without it (UEFI spec 2.x, HTTP Boot).
//   - option 43 with PXE_DISCOVERY_CONTROL = 0x08 to PXE clients: boot file in
//     this packet, no boot server discovery (PXE spec 2.1 table 2-1).
//   - option 97 echoed when the client sent it (PXE spec 2.1 §2.2.5).
//   - file and option 67 = d.BootFile, sname empty. Menu URLs can outgrow
//     the 128-byte 'file' field; then only option 67 carries the name.
//
// xid, chaddr, htype, flags and giaddr are copied from req.
func BuildReply(req *dhcp4.Packet, d boot.Decision, serverIP netip.Addr) (*dhcp4.Packet, error) {
	mt, err := replyType(req)
	if err != nil {
		return nil, err
	}
	if !d.Answer {
		return nil, fmt.Errorf("decision is to stay silent: %s", d.Reason)
	}
	if !serverIP.Is4() {
		return nil, fmt.Errorf("server IP %v is not an IPv4 address", serverIP)
	}
	if d.BootFile == "" || len(d.BootFile) > 255 {
		return nil, fmt.Errorf("boot file name %q: want 1 to 255 bytes", d.BootFile)
	}
	reply := &dhcp4.Packet{
		Op:      dhcp4.OpReply,
		HType:   req.HType,
		XID:     req.XID,
		Flags:   req.Flags,
		YIAddr:  netip.IPv4Unspecified(),
		GIAddr:  req.GIAddr,
		CHAddr:  req.CHAddr,
		Options: dhcp4.Options{},
	}
	if mt == dhcp4.Ack {
		// RFC 2131 table 3: an ACK repeats the client's ciaddr.
		reply.CIAddr = req.CIAddr
	}
	sid := serverIP.As4()
	reply.Options[dhcp4.OptMessageType] = []byte{byte(mt)}
	reply.Options[dhcp4.OptServerID] = sid[:]
	setBootFields(reply, req, d, serverIP)
	return reply, nil
}

// setBootFields writes where to boot from into reply, as described for
// BuildReply: siaddr, file, options 67, 60, 43 and 97. The full DHCP server
// (full_reply.go) uses it too, so both modes boot clients the same way.
func setBootFields(reply, req *dhcp4.Packet, d boot.Decision, serverIP netip.Addr) {
	reply.SIAddr = d.NextServer
	if !reply.SIAddr.Is4() {
		reply.SIAddr = serverIP
	}
	if len(d.BootFile) <= maxFileField {
		reply.File = d.BootFile
	}
	reply.Options[dhcp4.OptBootFile] = []byte(d.BootFile)
	if isHTTPClient(req) {
		reply.Options[dhcp4.OptVendorClass] = []byte("HTTPClient")
	} else {
		reply.Options[dhcp4.OptVendorClass] = []byte("PXEClient")
		reply.Options[dhcp4.OptVendorSpecific] = []byte{pxeDiscoveryControl, 1, pxeSkipDiscovery, dhcp4.OptEnd}
	}
	if uuid := req.Options.Get(dhcp4.OptUUID); len(uuid) > 0 {
		reply.Options[dhcp4.OptUUID] = append([]byte(nil), uuid...)
	}
}

// replyType maps the request's message type to ours.
func replyType(req *dhcp4.Packet) (dhcp4.MessageType, error) {
	if req == nil || req.Op != dhcp4.OpRequest {
		return 0, errNotRequest
	}
	switch t := req.MessageType(); t {
	case dhcp4.Discover:
		return dhcp4.Offer, nil
	case dhcp4.Request:
		return dhcp4.Ack, nil
	default:
		return 0, fmt.Errorf("a proxy answers DISCOVER and REQUEST, not %s", t)
	}
}

func isHTTPClient(req *dhcp4.Packet) bool {
	return strings.HasPrefix(string(req.Options.Get(dhcp4.OptVendorClass)), "HTTPClient")
}

// ReplyDest is where the reply to req, received from src on port, goes.
//
//   - Port 4011 (PXE boot server): back to the client's source address and
//     port; the client has an address by then (PXE spec 2.1 §2.2.6).
//   - Relayed (giaddr set): to the relay's server port (RFC 2131 §4.1).
//   - Broadcast flag set, or no ciaddr: broadcast to 255.255.255.255:68. A
//     proxy has no yiaddr to unicast to, and a client without an address
//     cannot take a unicast anyway.
//   - Otherwise unicast to ciaddr:68.
//
// broadcast is the address that means "everyone on the link" on this
// platform (see listen_*.go); the zero Addr means 255.255.255.255.
func ReplyDest(req *dhcp4.Packet, src netip.AddrPort, port int, broadcast netip.Addr) (netip.AddrPort, error) {
	if port == dhcp4.PortPXE {
		if !src.IsValid() || src.Addr().IsUnspecified() {
			return netip.AddrPort{}, errors.New("request on port 4011 from an unspecified address")
		}
		return netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), nil
	}
	if req.GIAddr.Is4() && !req.GIAddr.IsUnspecified() {
		return netip.AddrPortFrom(req.GIAddr, dhcp4.PortServer), nil
	}
	if req.Broadcast() || !req.CIAddr.Is4() || req.CIAddr.IsUnspecified() {
		if !broadcast.IsValid() {
			broadcast = limitedBroadcast
		}
		return netip.AddrPortFrom(broadcast, dhcp4.PortClient), nil
	}
	return netip.AddrPortFrom(req.CIAddr, dhcp4.PortClient), nil
}
