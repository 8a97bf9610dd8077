package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"rackboot/internal/pxe"
)

// Decode parses one datagram received on a server port. It fails for
// anything that is not a well-formed BOOTREQUEST (RFC 2131 §2, op = 1): a
// proxy has no business with replies, and a garbled packet must not reach the
// decision. It never panics, whatever the bytes (see FuzzDecode).
func Decode(b []byte) (p *Packet, err error) {
	defer func() {
		// Belt and braces: a decoder bug must cost one packet, not the server.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("malformed DHCP packet: decoder panic: %v", r)
		}
	}()
	p, err = Parse(b)
	if err != nil {
		return nil, fmt.Errorf("malformed DHCP packet: %w", err)
	}
	if p.Op != OpRequest {
		return nil, errNotRequest
	}
	return p, nil
}

var errNotRequest = errors.New("not a BOOTREQUEST (op != 1)")

// RequestFrom extracts what pxe.Classify needs from a decoded packet.
func RequestFrom(p *Packet) pxe.Request {
	r := pxe.Request{
		MAC:         append(net.HardwareAddr(nil), p.CHAddr...),
		VendorClass: string(p.Options.Get(OptVendorClass)),
		ArchTypes:   ArchTypes(p.Options.Get(OptClientArch)),
		UserClasses: UserClasses(p.Options.Get(OptUserClass)),
		IPXEOptions: p.Options.Has(OptIPXE),
	}
	if uuid := p.Options.Get(OptUUID); len(uuid) > 0 {
		r.UUID = append([]byte(nil), uuid...)
	}
	return r
}

// ArchTypes decodes option 93, a list of 16-bit processor architecture types
// (RFC 4578 §2.1). A trailing odd byte is ignored.
func ArchTypes(v []byte) []uint16 {
	if len(v) < 2 {
		return nil
	}
	types := make([]uint16, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		types = append(types, binary.BigEndian.Uint16(v[i:]))
	}
	return types
}

// UserClasses decodes option 77. RFC 3004 §4 encodes a list of
// length-prefixed strings; iPXE (and many other clients, after RFC 2132's
// first draft) send one bare string, "iPXE". The RFC form is accepted only
// when the lengths tile the option exactly and none is zero; otherwise the
// whole value is one class.
func UserClasses(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	var classes []string
	for rest := v; len(rest) > 0; {
		n := int(rest[0])
		if n == 0 || n+1 > len(rest) {
			return []string{string(v)}
		}
		classes = append(classes, string(rest[1:n+1]))
		rest = rest[n+1:]
	}
	return classes
}

// ClientAddr is the address the client will use once its DHCP exchange is
// done: the requested IP (option 50, RFC 2132 §9.1, sent in DHCPREQUEST while
// SELECTING and INIT-REBOOT) or else ciaddr (RENEWING, and PXE's
// ProxyDHCPREQUEST to port 4011). Zero when neither is known.
func ClientAddr(p *Packet) netip.Addr {
	if v := p.Options.Get(OptRequestedIP); len(v) == 4 {
		if a := netip.AddrFrom4([4]byte(v)); !a.IsUnspecified() {
			return a
		}
	}
	if p.CIAddr.Is4() && !p.CIAddr.IsUnspecified() {
		return p.CIAddr
	}
	return netip.Addr{}
}

// serverID returns option 54, or the zero Addr.
func serverID(p *Packet) netip.Addr {
	if v := p.Options.Get(OptServerID); len(v) == 4 {
		return netip.AddrFrom4([4]byte(v))
	}
	return netip.Addr{}
}
