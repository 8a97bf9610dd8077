// Package dhcp4 is rackboot's DHCPv4 codec: Packet, Parse and Marshal
// (RFC 2131 §2), options with option overload (RFC 2132 §9.3) and long
// options split and joined (RFC 3396), and the option codes the servers and
// the boot-storm simulator use. It knows nothing of servers, leases or boot
// decisions; internal/dhcp builds the servers on it, internal/storm the
// simulated clients.
//
// It is our own because github.com/insomniacslk/dhcp's dhcpv4 does not
// compile for illumos (its BindToInterface has no solaris file), and SmartOS
// head nodes are where rackboot most wants to run; the tests use dhcpv4 as
// an independent encoder and decoder to check this one (crosscheck_test.go).
package dhcp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
)

const (
	headerLen   = 236 // fixed BOOTP header, up to the magic cookie
	minBOOTPLen = 300 // RFC 951 message size; some relays drop shorter ones
)

// FlagBroadcast is the BROADCAST bit of the flags field (RFC 2131 §2,
// figure 2): the client cannot take a unicast before it has an address.
const FlagBroadcast = 0x8000

var magicCookie = [4]byte{99, 130, 83, 99} // RFC 2131 §3

// Packet is one DHCP message (RFC 2131 §2, figure 1). Address fields are
// IPv4; a zero netip.Addr is written as 0.0.0.0.
type Packet struct {
	Op      uint8
	HType   uint8
	Hops    uint8
	XID     uint32
	Secs    uint16
	Flags   uint16
	CIAddr  netip.Addr
	YIAddr  netip.Addr
	SIAddr  netip.Addr
	GIAddr  netip.Addr
	CHAddr  net.HardwareAddr // hlen bytes, at most 16
	SName   string
	File    string
	Options Options
}

// Options maps an option code to its value. A code that appears several
// times in a packet holds the concatenation of its parts (RFC 3396 §7).
type Options map[uint8][]byte

// Get returns the value of option code, nil when absent.
func (o Options) Get(code uint8) []byte { return o[code] }

// Has reports whether option code is present, even empty.
func (o Options) Has(code uint8) bool { _, ok := o[code]; return ok }

// Broadcast reports the BROADCAST flag (RFC 2131 §2, figure 2).
func (p *Packet) Broadcast() bool { return p.Flags&FlagBroadcast != 0 }

// Parse decodes a DHCP message. It is strict about structure (header length,
// magic cookie, option lengths) and liberal about the rest: a missing End
// option is accepted. It never panics, whatever the bytes (see FuzzDecode).
func Parse(b []byte) (*Packet, error) {
	if len(b) < headerLen+len(magicCookie) {
		return nil, fmt.Errorf("%d bytes: shorter than a DHCP header", len(b))
	}
	if [4]byte(b[headerLen:headerLen+4]) != magicCookie {
		return nil, errors.New("no DHCP magic cookie (plain BOOTP?)")
	}
	hlen := int(b[2])
	if hlen > 16 {
		return nil, fmt.Errorf("hardware address length %d > 16", hlen)
	}
	p := &Packet{
		Op: b[0], HType: b[1], Hops: b[3],
		XID:     binary.BigEndian.Uint32(b[4:]),
		Secs:    binary.BigEndian.Uint16(b[8:]),
		Flags:   binary.BigEndian.Uint16(b[10:]),
		CIAddr:  netip.AddrFrom4([4]byte(b[12:16])),
		YIAddr:  netip.AddrFrom4([4]byte(b[16:20])),
		SIAddr:  netip.AddrFrom4([4]byte(b[20:24])),
		GIAddr:  netip.AddrFrom4([4]byte(b[24:28])),
		CHAddr:  append(net.HardwareAddr(nil), b[28:28+hlen]...),
		Options: make(Options),
	}
	sname, file := b[44:108], b[108:236]
	if err := p.Options.parse(b[headerLen+4:]); err != nil {
		return nil, err
	}
	// RFC 2132 §9.3: option overload moves options into file and sname,
	// parsed in that order after the options field.
	overload := p.Options.Get(OptOverload)
	if len(overload) == 1 && overload[0]&1 != 0 {
		if err := p.Options.parse(file); err != nil {
			return nil, fmt.Errorf("overloaded file field: %w", err)
		}
		file = nil
	}
	if len(overload) == 1 && overload[0]&2 != 0 {
		if err := p.Options.parse(sname); err != nil {
			return nil, fmt.Errorf("overloaded sname field: %w", err)
		}
		sname = nil
	}
	p.SName, p.File = cString(sname), cString(file)
	return p, nil
}

// parse adds the options in b, up to End, to o.
func (o Options) parse(b []byte) error {
	for i := 0; i < len(b); {
		code := b[i]
		switch code {
		case OptPad:
			i++
			continue
		case OptEnd:
			return nil
		}
		if i+1 >= len(b) {
			return fmt.Errorf("option %d: no length byte", code)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return fmt.Errorf("option %d: length %d runs past the packet", code, n)
		}
		o[code] = append(o[code], b[i+2:i+2+n]...)
		if o[code] == nil {
			o[code] = []byte{} // present but empty
		}
		i += 2 + n
	}
	return nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i] // converting only what is used: usually nothing
	}
	return string(b)
}

// Marshal encodes p. Option 53 goes first (some PXE ROMs look for it there),
// the rest by code; values longer than 255 bytes are split into several
// options (RFC 3396). The message is padded to BOOTP's 300 bytes. SName and
// File are truncated to fit their fields with a terminating NUL.
func (p *Packet) Marshal() []byte {
	b := make([]byte, headerLen, p.EncodedLen())
	b[0], b[1], b[2], b[3] = p.Op, p.HType, byte(min(len(p.CHAddr), 16)), p.Hops
	binary.BigEndian.PutUint32(b[4:], p.XID)
	binary.BigEndian.PutUint16(b[8:], p.Secs)
	binary.BigEndian.PutUint16(b[10:], p.Flags)
	for i, a := range []netip.Addr{p.CIAddr, p.YIAddr, p.SIAddr, p.GIAddr} {
		if a.Is4() {
			v := a.As4()
			copy(b[12+4*i:], v[:])
		}
	}
	copy(b[28:44], p.CHAddr)
	copy(b[44:44+63], p.SName)
	copy(b[108:108+127], p.File)
	b = append(b, magicCookie[:]...)

	codes := make([]int, 0, len(p.Options))
	for c := range p.Options {
		if c != OptPad && c != OptEnd && c != OptMessageType {
			codes = append(codes, int(c))
		}
	}
	sort.Ints(codes)
	if p.Options.Has(OptMessageType) {
		codes = append([]int{OptMessageType}, codes...)
	}
	for _, c := range codes {
		b = appendOption(b, uint8(c), p.Options[uint8(c)])
	}
	b = append(b, OptEnd)
	for len(b) < minBOOTPLen {
		b = append(b, OptPad)
	}
	return b
}

func appendOption(b []byte, code uint8, v []byte) []byte {
	for first := true; first || len(v) > 0; first = false {
		n := min(len(v), 255)
		b = append(b, code, byte(n))
		b = append(b, v[:n]...)
		v = v[n:]
	}
	return b
}

// EncodedLen is len(p.Marshal()) without building it.
func (p *Packet) EncodedLen() int {
	n := headerLen + len(magicCookie) + 1 // End
	for _, v := range p.Options {
		n += 2 + len(v) + 2*(len(v)/256) // RFC 3396 splits long values
	}
	return max(n, minBOOTPLen)
}
