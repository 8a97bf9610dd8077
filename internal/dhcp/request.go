package dhcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

// Decode parses one datagram received on a server port. It fails for
// anything that is not a well-formed BOOTREQUEST (RFC 2131 §2, op = 1): a
// proxy has no business with replies, and a garbled packet must not reach the
// decision. It never panics, whatever the bytes (see FuzzDecode).
func Decode(b []byte) (p *dhcp4.Packet, err error) {
	defer func() {
		// Belt and braces: a decoder bug must cost one packet, not the server.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("malformed DHCP packet: decoder panic: %v", r)
		}
	}()
	p, err = dhcp4.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("malformed DHCP packet: %w", err)
	}
	if p.Op != dhcp4.OpRequest {
		return nil, errNotRequest
	}
	return p, nil
}

var errNotRequest = errors.New("not a BOOTREQUEST (op != 1)")

// RequestFrom extracts what pxe.Classify needs from a decoded packet.
func RequestFrom(p *dhcp4.Packet) pxe.Request {
	r := pxe.Request{
		MAC:         append(net.HardwareAddr(nil), p.CHAddr...),
		VendorClass: string(p.Options.Get(dhcp4.OptVendorClass)),
		ArchTypes:   dhcp4.ArchTypes(p.Options.Get(dhcp4.OptClientArch)),
		UserClasses: dhcp4.UserClasses(p.Options.Get(dhcp4.OptUserClass)),
		IPXEOptions: p.Options.Has(dhcp4.OptIPXE),
	}
	if o := p.Options.Get(dhcp4.OptIPXE); len(o) > 0 {
		r.IPXEEncap = append([]byte(nil), o...)
	}
	if uuid := p.Options.Get(dhcp4.OptUUID); len(uuid) > 0 {
		r.UUID = append([]byte(nil), uuid...)
	}
	return r
}

// ClientAddr is the address the client will use once its DHCP exchange is
// done: the requested IP (option 50, RFC 2132 §9.1, sent in DHCPREQUEST while
// SELECTING and INIT-REBOOT) or else ciaddr (RENEWING, and PXE's
// ProxyDHCPREQUEST to port 4011). Zero when neither is known.
func ClientAddr(p *dhcp4.Packet) netip.Addr {
	if a := p.RequestedIP(); a.IsValid() {
		return a
	}
	if p.CIAddr.Is4() && !p.CIAddr.IsUnspecified() {
		return p.CIAddr
	}
	return netip.Addr{}
}
