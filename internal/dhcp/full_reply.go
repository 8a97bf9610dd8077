package dhcp

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
	"rackboot/internal/pxe"
)

// network is a Network with its options encoded once.
type network struct {
	Network
	opts dhcp4.Options
}

func compileNetwork(n *Network) *network {
	o := dhcp4.Options{}
	mask := net4mask(n.Prefix.Bits())
	o[dhcp4.OptSubnetMask] = mask[:]
	bc := directedBroadcast(n.Prefix).As4()
	o[dhcp4.OptBroadcastAddr] = bc[:]
	if n.Router.Is4() {
		o[dhcp4.OptRouter] = n.Router.AsSlice()
	}
	if b := addrList(n.DNS); len(b) > 0 {
		o[dhcp4.OptDNS] = b
	}
	if b := addrList(n.NTP); len(b) > 0 {
		o[dhcp4.OptNTP] = b
	}
	if n.Domain != "" {
		o[dhcp4.OptDomainName] = []byte(n.Domain)
	}
	if n.MTU > 0 {
		o[dhcp4.OptMTU] = binary.BigEndian.AppendUint16(nil, uint16(n.MTU))
	}
	for code, v := range n.Extra {
		o[code] = v
	}
	return &network{Network: *n, opts: o}
}

func net4mask(bits int) [4]byte {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return [4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
}

func addrList(as []netip.Addr) []byte {
	var b []byte
	for _, a := range as {
		if a.Is4() {
			b = append(b, a.AsSlice()...)
		}
	}
	return b
}

func seconds(d time.Duration) []byte {
	s := d / time.Second
	if s < 0 {
		s = 0
	}
	return binary.BigEndian.AppendUint32(nil, uint32(min(s, 0xffffffff)))
}

// replyOptions recycles the option maps of OFFERs and ACKs (finish returns
// them once the reply is encoded). A dozen options make a hash table, and
// allocating and collecting one per reply was a fifth of the server's CPU
// at saturation (perf, perfdhcp).
var replyOptions = sync.Pool{New: func() any { return make(dhcp4.Options, 16) }}

// encode marshals r's packet and gives its option map back to
// replyOptions when it came from there: r's packet is done with.
func (r *reply) encode() []byte {
	b := r.pkt.Marshal()
	if r.pooled {
		clear(r.pkt.Options)
		replyOptions.Put(r.pkt.Options)
	}
	r.pkt = nil
	return b
}

// answer builds an OFFER or ACK (RFC 2131 table 3). l is the lease, nil for
// the ACK to a DHCPINFORM (no address, no lease times).
func (s *FullServer) answer(req *dhcp4.Packet, r reply, mt dhcp4.MessageType, l *lease.Lease, sub lease.Subnet, cl pxe.Client, bcast netip.Addr) reply {
	p := &dhcp4.Packet{
		Op: dhcp4.OpReply, HType: req.HType, XID: req.XID, Flags: req.Flags,
		GIAddr: req.GIAddr, CHAddr: req.CHAddr, Options: replyOptions.Get().(dhcp4.Options),
	}
	n := s.nets[sub.Prefix]
	if n != nil {
		for code, v := range n.opts {
			p.Options[code] = v
		}
	} else {
		mask := net4mask(sub.Prefix.Bits())
		p.Options[dhcp4.OptSubnetMask] = mask[:]
	}
	if mt == dhcp4.Ack {
		p.CIAddr = req.CIAddr
	}
	if l != nil {
		p.YIAddr = l.IP
		// An ACK's lease runs until its end: the subnet's lease time from
		// now, or less for a renewal answered from the lease as it is
		// (lease caching, lease.Config.CacheThreshold), whose renewal and
		// rebinding times keep their place in it. An OFFER promises the
		// lease time (an offer's Expires is only its hold).
		left := sub.LeaseTime
		if mt == dhcp4.Ack && l.State == lease.Bound {
			left = min(left, max(0, l.Expires.Sub(s.Leases.Now()).Round(time.Second)))
		}
		elapsed := sub.LeaseTime - left
		t1, t2 := left/2, left*7/8
		if n != nil && n.T1-elapsed > 0 && n.T1-elapsed < left {
			t1 = n.T1 - elapsed
		}
		if n != nil && n.T2-elapsed > 0 && n.T2-elapsed < left {
			t2 = n.T2 - elapsed
		}
		p.Options[dhcp4.OptLeaseTime] = seconds(left)
		p.Options[dhcp4.OptRenewalTime] = seconds(t1)
		p.Options[dhcp4.OptRebindingTime] = seconds(t2)
		if l.Hostname != "" && l.Reserved {
			p.Options[dhcp4.OptHostname] = []byte(l.Hostname)
		}
		r.ev.ClientIP = l.IP
		if mt == dhcp4.Ack && cl.NetBoot() {
			s.Sightings.Record(l.IP, boot.Sighting{MAC: cl.MAC, Arch: cl.Arch, IPXE: cl.IPXE, Features: cl.Features})
		}
	}
	sid := s.ServerIP.As4()
	p.Options[dhcp4.OptMessageType] = []byte{byte(mt)}
	p.Options[dhcp4.OptServerID] = sid[:]
	r.ev.Reason = mt.String()
	if cl.NetBoot() && s.Decide != nil {
		// The same decision as proxy mode, from the same code.
		if d := s.Decide(cl); d.Answer {
			setBootFields(p, req, d, s.ServerIP)
			r.ev.BootFile = d.BootFile
		}
	}
	echoRelayInfo(p, req)
	fitMessage(p, req)
	r.ev.Outcome, r.pkt, r.dest, r.pooled = Answered, p, fullReplyDest(req, mt, bcast), true
	return r
}

// nak builds a DHCPNAK: no address, no options but the server identifier and
// a message saying why (RFC 2131 table 3).
func (s *FullServer) nak(req *dhcp4.Packet, r reply, why string, bcast netip.Addr) reply {
	p := &dhcp4.Packet{
		Op: dhcp4.OpReply, HType: req.HType, XID: req.XID, Flags: req.Flags,
		GIAddr: req.GIAddr, CHAddr: req.CHAddr, Options: dhcp4.Options{},
	}
	if relayed(req) {
		// RFC 2131 §4.3.2: a relayed NAK goes out with the broadcast bit,
		// since the client's address is not to be trusted.
		p.Flags |= dhcp4.FlagBroadcast
	}
	sid := s.ServerIP.As4()
	p.Options[dhcp4.OptMessageType] = []byte{byte(dhcp4.Nak)}
	p.Options[dhcp4.OptServerID] = sid[:]
	if len(why) > 255 {
		why = why[:255]
	}
	p.Options[dhcp4.OptMessage] = []byte(why)
	echoRelayInfo(p, req)
	r.ev.Outcome, r.pkt, r.dest = Answered, p, fullReplyDest(req, dhcp4.Nak, bcast)
	r.ev.Reason = "NAK: " + why
	return r
}

// echoRelayInfo copies option 82 into the reply: a relay agent strips it
// before forwarding to the client and uses it to find the client's port
// (RFC 3046 §2.2).
func echoRelayInfo(p, req *dhcp4.Packet) {
	if v := req.Options.Get(dhcp4.OptRelayAgentInfo); len(v) > 0 {
		p.Options[dhcp4.OptRelayAgentInfo] = v
	}
}

// fitMessage drops options the client did not ask for (option 55) when the
// reply is larger than it accepts: 576 bytes of IP datagram unless it says
// more in option 57 (RFC 2132 §9.10).
func fitMessage(p, req *dhcp4.Packet) {
	limit := 576
	if v := req.Options.Get(dhcp4.OptMaxMessageSize); len(v) == 2 {
		limit = max(limit, int(binary.BigEndian.Uint16(v)))
	}
	limit -= 28 // IP and UDP headers
	if p.EncodedLen() <= limit {
		return
	}
	asked := map[uint8]bool{}
	for _, c := range req.Options.Get(dhcp4.OptParamRequest) {
		asked[c] = true
	}
	for code := range p.Options {
		switch code {
		case dhcp4.OptMessageType, dhcp4.OptServerID, dhcp4.OptLeaseTime, dhcp4.OptSubnetMask, dhcp4.OptBootFile, dhcp4.OptRelayAgentInfo:
			continue
		}
		if !asked[code] {
			delete(p.Options, code)
		}
	}
}

// fullReplyDest is where a full server's reply goes (RFC 2131 §4.1):
//
//   - relayed (giaddr set): to the relay agent's server port, 67;
//   - a NAK: broadcast, as the client's address is not to be trusted;
//   - ciaddr set (RENEWING, REBINDING, INFORM): unicast to ciaddr:68;
//   - otherwise broadcast to 255.255.255.255:68. The RFC prefers a unicast
//     to yiaddr at the client's hardware address when the broadcast bit is
//     clear; that needs an ARP entry we cannot add portably, and RFC 2131
//     §4.1 allows the broadcast when the server cannot unicast.
func fullReplyDest(req *dhcp4.Packet, mt dhcp4.MessageType, bcast netip.Addr) netip.AddrPort {
	if !bcast.IsValid() {
		bcast = limitedBroadcast
	}
	switch {
	case relayed(req):
		return netip.AddrPortFrom(req.GIAddr, dhcp4.PortServer)
	case mt == dhcp4.Nak:
		return netip.AddrPortFrom(bcast, dhcp4.PortClient)
	case req.CIAddr.Is4() && !req.CIAddr.IsUnspecified():
		return netip.AddrPortFrom(req.CIAddr, dhcp4.PortClient)
	}
	return netip.AddrPortFrom(bcast, dhcp4.PortClient)
}
