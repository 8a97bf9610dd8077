package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

// ProxyServer is a proxyDHCP server. Set its fields, then call Serve once.
type ProxyServer struct {
	Config
	Mode Mode

	received, answered, ignored, malformed, sendErrors atomic.Uint64
}

// Stats returns the packet counters so far.
func (s *ProxyServer) Stats() Stats {
	return Stats{
		Received:   s.received.Load(),
		Answered:   s.answered.Load(),
		Ignored:    s.ignored.Load(),
		Malformed:  s.malformed.Load(),
		SendErrors: s.sendErrors.Load(),
	}
}

// Serve listens on port 67 (and, in ModeProxy, port 4011) until ctx is done,
// then closes its sockets and returns nil. It returns an error when it cannot
// listen or a socket fails.
func (s *ProxyServer) Serve(ctx context.Context) error {
	if err := s.validate(); err != nil {
		return err
	}
	ifi, err := lookupInterface(s.Interface)
	if err != nil {
		return err
	}
	ports := []int{dhcp4.PortServer}
	if s.Mode == ModeProxy {
		ports = append(ports, dhcp4.PortPXE)
	}
	conns, err := listenAll(ctx, ifi, ports, s.logger())
	if err != nil {
		return err
	}
	s.logger().Info("proxyDHCP listening", "interface", ifName(ifi), "server_ip", s.ServerIP,
		"mode", s.Mode.String(), "ports", ports)
	loops := make([]loop, len(conns))
	for i, c := range conns {
		loops[i] = loop{c, s.serveConn}
	}
	return serveLoops(ctx, loops)
}

func (s *ProxyServer) validate() error {
	switch s.Mode {
	case ModeOff:
		return nil
	case ModeProxy:
	default:
		return fmt.Errorf("DHCP: unknown mode %d", s.Mode)
	}
	if err := s.checkServerIP(); err != nil {
		return err
	}
	if s.Decide == nil {
		return errors.New("DHCP: no Decide function")
	}
	return nil
}

// serveConn answers what arrives on c until its socket is closed. The full
// server's port 4011 is served so too.
func (s *ProxyServer) serveConn(ctx context.Context, c *conn) error {
	return readLoop(ctx, c, func(b []byte, src netip.AddrPort, in int) {
		r := s.process(b, src, c.port, c.broadcast)
		var err error
		if r.ev.Outcome == Answered {
			// Out of the interface the request came in on (ifOut).
			_, err = c.pc.WriteTo(r.reply, ifOut(in), net.UDPAddrFromAddrPort(r.dest))
		}
		s.finish(r, err)
	}, nil)
}

// result is what process decided for one packet.
type result struct {
	ev    Event
	reply []byte
	dest  netip.AddrPort
}

// process decodes one packet, records the sighting and, when we answer,
// builds the reply. It sends nothing: the caller writes r.reply to r.dest
// when r.ev.Outcome is Answered, then calls finish.
func (s *ProxyServer) process(b []byte, src netip.AddrPort, port int, broadcast netip.Addr) result {
	s.received.Add(1)
	r := result{ev: Event{Time: time.Now(), Port: port, From: src}}
	p, err := Decode(b)
	if err != nil {
		r.ev.Outcome, r.ev.Reason = Malformed, err.Error()
		if errors.Is(err, errNotRequest) {
			r.ev.Outcome = Ignored
		}
		return r
	}
	mt := p.MessageType()
	req := RequestFrom(p)
	cl := pxe.Classify(req)
	r.ev.Type, r.ev.MAC, r.ev.Arch, r.ev.IPXE, r.ev.Features = mt.String(), cl.MAC, cl.Arch, cl.IPXE, cl.Features
	r.ev.UUID, r.ev.VendorClass = cl.UUID, req.VendorClass
	r.ev.ClientIP = ClientAddr(p)
	if cl.NetBoot() && (mt == dhcp4.Discover || mt == dhcp4.Request) {
		s.Sightings.Record(r.ev.ClientIP, boot.Sighting{MAC: cl.MAC, Arch: cl.Arch, IPXE: cl.IPXE, Features: cl.Features})
	}
	if reason := s.ignoreReason(p, mt, cl, port); reason != "" {
		r.ev.Outcome, r.ev.Reason = Ignored, reason
		return r
	}
	d := s.Decide(cl)
	r.ev.Reason = d.Reason
	if !d.Answer {
		r.ev.Outcome = Ignored
		return r
	}
	reply, err := BuildReply(p, d, s.ServerIP)
	if err == nil {
		r.dest, err = ReplyDest(p, src, port, broadcast)
	}
	if err != nil {
		r.ev.Outcome, r.ev.Reason = Ignored, "cannot answer: "+err.Error()
		return r
	}
	r.ev.Outcome, r.ev.BootFile, r.reply = Answered, d.BootFile, reply.Marshal()
	return r
}

// ignoreReason says why we do not answer, or "" when we do.
func (s *ProxyServer) ignoreReason(p *dhcp4.Packet, mt dhcp4.MessageType, cl pxe.Client, port int) string {
	switch {
	case s.Mode == ModeOff:
		return "listen-only mode (dhcp mode off)"
	case mt != dhcp4.Discover && mt != dhcp4.Request:
		return fmt.Sprintf("a proxy answers only DISCOVER and REQUEST, not %s", mt)
	case !cl.NetBoot():
		return "not a network-boot client (no PXEClient or HTTPClient vendor class, not iPXE)"
	}
	if port == dhcp4.PortServer && mt == dhcp4.Request {
		// Like dnsmasq's proxy, leave the lease's DHCPREQUEST to the real
		// server: a proxy ACK (yiaddr 0) to a client that is SELECTING
		// another server's offer can only confuse it. A REQUEST naming us
		// as server is a ROM that picked our offer and asks on 67 rather
		// than 4011 (old gPXE did); answer that one.
		switch sid := p.ServerID(); {
		case !sid.IsValid():
			return "DHCPREQUEST without server identifier (renewal or reboot): the DHCP server's business"
		case sid != s.ServerIP:
			return fmt.Sprintf("DHCPREQUEST for the DHCP server at %v", sid)
		}
	}
	return ""
}

// finish counts, logs and reports one processed packet; sendErr is the error
// from writing an answer.
func (s *ProxyServer) finish(r result, sendErr error) {
	ev := r.ev
	if ev.Outcome == Answered && sendErr != nil {
		ev.Outcome, ev.Reason = SendError, fmt.Sprintf("send to %v: %v", r.dest, sendErr)
	}
	log := s.logger()
	switch ev.Outcome {
	case Answered:
		s.answered.Add(1)
		log.Info("proxyDHCP answer", "mac", ev.MAC.String(), "arch", ev.Arch.String(), "ipxe", ev.IPXE,
			"type", ev.Type, "file", ev.BootFile, "port", ev.Port, "to", r.dest.String())
	case Ignored:
		s.ignored.Add(1)
		log.Debug("proxyDHCP ignore", "mac", ev.MAC.String(), "arch", ev.Arch.String(), "ipxe", ev.IPXE,
			"type", ev.Type, "port", ev.Port, "from", ev.From.String(), "reason", ev.Reason)
	case Malformed:
		s.malformed.Add(1)
		log.Debug("proxyDHCP malformed packet", "port", ev.Port, "from", ev.From.String(), "reason", ev.Reason)
	case SendError:
		s.sendErrors.Add(1)
		log.Warn("proxyDHCP could not send answer", "mac", ev.MAC.String(), "port", ev.Port, "err", ev.Reason)
	}
	if s.OnEvent != nil {
		s.OnEvent(ev)
	}
}
