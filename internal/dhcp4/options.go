package dhcp4

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Ports (RFC 2131 §4.1, PXE spec 2.1 §2.2.6).
const (
	PortServer = 67   // BOOTP/DHCP server
	PortClient = 68   // BOOTP/DHCP client
	PortPXE    = 4011 // PXE boot server: ProxyDHCPREQUEST
)

// BOOTP op codes (RFC 951).
const (
	OpRequest = 1
	OpReply   = 2
)

// Option codes (RFC 2132, RFC 3004, RFC 3011, RFC 3046, RFC 4578, PXE spec
// 2.1, iPXE).
const (
	OptPad             = 0
	OptSubnetMask      = 1
	OptRouter          = 3
	OptDNS             = 6
	OptHostname        = 12
	OptDomainName      = 15
	OptMTU             = 26
	OptBroadcastAddr   = 28
	OptNTP             = 42
	OptVendorSpecific  = 43 // PXE vendor options (PXE spec 2.1 §2.4)
	OptRequestedIP     = 50
	OptLeaseTime       = 51
	OptOverload        = 52 // RFC 2132 §9.3: options continue in file/sname
	OptMessageType     = 53
	OptServerID        = 54
	OptParamRequest    = 55
	OptMessage         = 56
	OptMaxMessageSize  = 57
	OptRenewalTime     = 58 // T1
	OptRebindingTime   = 59 // T2
	OptVendorClass     = 60
	OptClientID        = 61
	OptTFTPServer      = 66 // RFC 2132 §9.4
	OptBootFile        = 67 // RFC 2132 §9.5
	OptUserClass       = 77 // RFC 3004
	OptRelayAgentInfo  = 82 // RFC 3046
	OptClientArch      = 93 // RFC 4578 §2.1
	OptClientNDI       = 94 // RFC 4578 §2.2
	OptUUID            = 97 // RFC 4578 §2.3
	OptSubnetSelection = 118
	OptIPXE            = 175
	OptEnd             = 255
)

// MessageType is option 53 (RFC 2132 §9.6).
type MessageType uint8

const (
	Discover MessageType = 1 + iota
	Offer
	Request
	Decline
	Ack
	Nak
	Release
	Inform
)

var messageTypeNames = [...]string{"BOOTP", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("TYPE%d", uint8(t))
}

// MessageType returns option 53, or 0 for BOOTP.
func (p *Packet) MessageType() MessageType {
	if v := p.Options.Get(OptMessageType); len(v) == 1 {
		return MessageType(v[0])
	}
	return 0
}

// ServerID returns option 54 (RFC 2132 §9.7), or the zero Addr.
func (p *Packet) ServerID() netip.Addr {
	if v := p.Options.Get(OptServerID); len(v) == 4 {
		return netip.AddrFrom4([4]byte(v))
	}
	return netip.Addr{}
}

// RequestedIP returns option 50 (RFC 2132 §9.1), or the zero Addr when it
// is absent or 0.0.0.0.
func (p *Packet) RequestedIP() netip.Addr {
	if v := p.Options.Get(OptRequestedIP); len(v) == 4 {
		if a := netip.AddrFrom4([4]byte(v)); !a.IsUnspecified() {
			return a
		}
	}
	return netip.Addr{}
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
