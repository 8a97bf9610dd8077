// Package ra answers the IPv6 router solicitations of network-booting
// machines with a router advertisement that configures nothing, so that
// iPXE's IPv6 autoconfiguration ends at once instead of waiting ~13 s for a
// router that is not there (DESIGN.md, "Router advertisements that
// configure nothing"). It is standalone: the caller says which machines are
// booting (Config.Booting) and reads the counters (Stats).
package ra

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// ICMPv6 types and NDP option types (RFC 4861 §4.1, §4.2, §4.6; RFC 4191 §2.3).
const (
	TypeRouterSolicitation  = 133
	TypeRouterAdvertisement = 134

	optSourceLinkLayer = 1
	optPrefixInfo      = 3
	optRouteInfo       = 24
)

// Solicitation is what rackboot reads of a router solicitation.
type Solicitation struct {
	SourceMAC net.HardwareAddr // the Source Link-Layer Address option; nil without one
}

// Advertisement is a router advertisement's fields, as parsed or to send.
type Advertisement struct {
	HopLimit  uint8 // Cur Hop Limit; 0: unspecified
	Managed   bool  // M: addresses from DHCPv6
	Other     bool  // O: other configuration from DHCPv6
	Lifetime  uint16
	Reachable uint32 // ms; 0: unspecified
	Retrans   uint32 // ms; 0: unspecified
	Prefixes  int    // Prefix Information options
	Routes    int    // Route Information options (RFC 4191)
	SourceMAC net.HardwareAddr
}

// Configures reports whether a host would take anything from a: a default
// router, a prefix (on-link or SLAAC), a route, or DHCPv6. An advertisement
// that configures something comes from a real IPv6 router.
func (a Advertisement) Configures() bool {
	return a.Lifetime != 0 || a.Prefixes > 0 || a.Routes > 0 || a.Managed || a.Other
}

var errShort = errors.New("ndp: message too short")

// ParseSolicitation reads an ICMPv6 router solicitation (b starts at the
// ICMPv6 type). It checks what RFC 4861 §6.1.1 asks of the message itself:
// type, code 0, length, well-formed options. The hop limit and an
// unspecified source with a link-layer option are the caller's to check.
func ParseSolicitation(b []byte) (Solicitation, error) {
	var s Solicitation
	if len(b) < 8 {
		return s, errShort
	}
	if b[0] != TypeRouterSolicitation || b[1] != 0 {
		return s, fmt.Errorf("ndp: type %d code %d is not a router solicitation", b[0], b[1])
	}
	err := parseOptions(b[8:], func(typ byte, body []byte) {
		if typ == optSourceLinkLayer && s.SourceMAC == nil && len(body) >= 6 {
			s.SourceMAC = net.HardwareAddr(append([]byte(nil), body[:6]...))
		}
	})
	return s, err
}

// ParseAdvertisement reads an ICMPv6 router advertisement (b starts at the
// ICMPv6 type).
func ParseAdvertisement(b []byte) (Advertisement, error) {
	var a Advertisement
	if len(b) < 16 {
		return a, errShort
	}
	if b[0] != TypeRouterAdvertisement || b[1] != 0 {
		return a, fmt.Errorf("ndp: type %d code %d is not a router advertisement", b[0], b[1])
	}
	a.HopLimit = b[4]
	a.Managed = b[5]&0x80 != 0
	a.Other = b[5]&0x40 != 0
	a.Lifetime = binary.BigEndian.Uint16(b[6:8])
	a.Reachable = binary.BigEndian.Uint32(b[8:12])
	a.Retrans = binary.BigEndian.Uint32(b[12:16])
	err := parseOptions(b[16:], func(typ byte, body []byte) {
		switch typ {
		case optSourceLinkLayer:
			if a.SourceMAC == nil && len(body) >= 6 {
				a.SourceMAC = net.HardwareAddr(append([]byte(nil), body[:6]...))
			}
		case optPrefixInfo:
			a.Prefixes++
		case optRouteInfo:
			a.Routes++
		}
	})
	return a, err
}

// parseOptions walks NDP options (RFC 4861 §4.6): each is type, length in
// units of 8 octets (never 0), then its body. body excludes the two header
// bytes.
func parseOptions(b []byte, fn func(typ byte, body []byte)) error {
	for len(b) > 0 {
		if len(b) < 2 {
			return errors.New("ndp: truncated option")
		}
		n := int(b[1]) * 8
		if n == 0 {
			return errors.New("ndp: option of length 0")
		}
		if n > len(b) {
			return fmt.Errorf("ndp: option %d of %d bytes overruns the message (%d left)", b[0], n, len(b))
		}
		fn(b[0], b[2:n])
		b = b[n:]
	}
	return nil
}

// Marshal encodes a with a zero checksum (the kernel fills it in for raw
// ICMPv6 sockets, RFC 3542 §3.1). Prefixes and Routes are not encoded: an
// advertisement rackboot sends never carries them. A 6-byte SourceMAC is
// sent as a Source Link-Layer Address option.
func (a Advertisement) Marshal() []byte {
	b := make([]byte, 16, 24)
	b[0] = TypeRouterAdvertisement
	b[4] = a.HopLimit
	if a.Managed {
		b[5] |= 0x80
	}
	if a.Other {
		b[5] |= 0x40
	}
	binary.BigEndian.PutUint16(b[6:8], a.Lifetime)
	binary.BigEndian.PutUint32(b[8:12], a.Reachable)
	binary.BigEndian.PutUint32(b[12:16], a.Retrans)
	if len(a.SourceMAC) == 6 {
		b = append(b, optSourceLinkLayer, 1)
		b = append(b, a.SourceMAC...)
	}
	return b
}

// marshalSolicitation encodes a router solicitation with mac (if 6 bytes)
// as its Source Link-Layer Address option, checksum zero.
func marshalSolicitation(mac net.HardwareAddr) []byte {
	b := make([]byte, 8, 16)
	b[0] = TypeRouterSolicitation
	if len(mac) == 6 {
		b = append(b, optSourceLinkLayer, 1)
		b = append(b, mac...)
	}
	return b
}
