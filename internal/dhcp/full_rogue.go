package dhcp

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"

	"rackboot/internal/dhcp4"
)

// Rogue is another DHCP server seen answering on our link.
type Rogue struct {
	Server      netip.Addr     // its server identifier (option 54), else the packet's source
	From        netip.AddrPort // where its last reply came from
	Type        string         // OFFER or ACK
	YourIP      netip.Addr     // the address it handed out last
	Client      net.HardwareAddr
	First, Last time.Time
	Count       int
}

// rogueWarnEvery limits the warnings about one server.
const rogueWarnEvery = 10 * time.Minute

// rogueLoop listens on the client port for replies from other DHCP servers:
// broadcast OFFERs and ACKs reach every host on the link, so a second
// server handing out addresses shows itself here.
func (s *FullServer) rogueLoop(ctx context.Context, c *conn) error {
	err := readLoop(ctx, c, func(b []byte, src netip.AddrPort, _ int) {
		if p, err := dhcp4.Parse(b); err == nil {
			s.checkRogue(p, src)
		}
	}, nil)
	if err != nil {
		s.logger().Warn("rogue DHCP server detection stopped", "err", err)
	}
	return nil // not worth stopping the DHCP server for
}

// checkRogue notes p when it is another server's address-giving reply.
func (s *FullServer) checkRogue(p *dhcp4.Packet, from netip.AddrPort) {
	mt := p.MessageType()
	if p.Op != dhcp4.OpReply || (mt != dhcp4.Offer && mt != dhcp4.Ack) {
		return
	}
	if !p.YIAddr.IsValid() || p.YIAddr.IsUnspecified() {
		return // a proxyDHCP answer or an INFORM reply: gives no address
	}
	sid := p.ServerID()
	if !sid.IsValid() {
		sid = from.Addr().Unmap()
	}
	if sid == s.ServerIP || slices.Contains(s.local, sid) {
		return // our own broadcast, looped back
	}
	now := time.Now()
	s.counts.rogue.Add(1)
	s.rogueMu.Lock()
	r := s.rogues[sid]
	if r == nil {
		r = &Rogue{Server: sid, First: now}
		s.rogues[sid] = r
	}
	r.From, r.Type, r.YourIP, r.Last = from, mt.String(), p.YIAddr, now
	r.Client = append(r.Client[:0], p.CHAddr...)
	r.Count++
	snapshot := *r
	snapshot.Client = slices.Clone(r.Client)
	warn := now.Sub(s.lastWarned[sid]) >= rogueWarnEvery
	if warn {
		s.lastWarned[sid] = now
	}
	s.rogueMu.Unlock()
	if warn {
		s.logger().Warn("another DHCP server is handing out addresses on this network: clients may get "+
			"addresses and boot settings from it instead of rackboot; find and stop it, or run rackboot "+
			"with dhcp.mode proxy beside it", "server", sid, "from", from.String(), "type", mt.String(),
			"your_ip", p.YIAddr, "client", p.CHAddr.String(), "replies_seen", snapshot.Count)
	}
	if s.OnRogue != nil {
		s.OnRogue(snapshot)
	}
}

// Rogues lists the other DHCP servers seen so far.
func (s *FullServer) Rogues() []Rogue {
	s.rogueMu.Lock()
	defer s.rogueMu.Unlock()
	out := make([]Rogue, 0, len(s.rogues))
	for _, r := range s.rogues {
		c := *r
		c.Client = slices.Clone(r.Client)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Rogue) int { return a.Server.Compare(b.Server) })
	return out
}
