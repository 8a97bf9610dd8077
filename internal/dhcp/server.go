package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

// ProxyServer is a proxyDHCP server. Set its fields, then call Serve once.
type ProxyServer struct {
	// Interface to serve, e.g. "eth0". Empty serves every interface.
	Interface string
	// ServerIP is our address on that link: option 54, and where
	// clients send their ProxyDHCPREQUEST (port 4011). Required in
	// ModeProxy; see InterfaceIPv4.
	ServerIP netip.Addr
	Mode     Mode
	// Decide says what a client gets; usually boot.Config.Decide.
	// Required in ModeProxy.
	Decide func(pxe.Client) boot.Decision
	// Sightings, when not nil, records every network-boot client's address,
	// arch and whether it runs iPXE, in both modes.
	Sightings *boot.Sightings
	// Logger; nil discards.
	Logger *slog.Logger
	// OnEvent, when not nil, is called for every packet received, on the
	// receiving goroutine: it must not block.
	OnEvent func(Event)

	received, answered, ignored, malformed, sendErrors atomic.Uint64
}

// ErrAddrInUse is wrapped by Serve's error when a port is taken, typically by
// another DHCP server on this host.
var ErrAddrInUse = errors.New("address in use")

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
	var conns []*conn
	for _, port := range ports {
		c, err := s.listen(ctx, ifi, port)
		if err != nil {
			for _, c := range conns {
				c.pc.Close()
			}
			return err
		}
		conns = append(conns, c)
	}
	s.logger().Info("proxyDHCP listening", "interface", ifName(ifi), "server_ip", s.ServerIP,
		"mode", s.Mode.String(), "ports", ports)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		for _, c := range conns {
			c.pc.Close()
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.readLoop(ctx, c)
			if errs[i] != nil {
				cancel() // one socket failed: stop the other too
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *ProxyServer) validate() error {
	switch s.Mode {
	case ModeOff:
		return nil
	case ModeProxy:
	default:
		return fmt.Errorf("proxyDHCP: unknown mode %d", s.Mode)
	}
	if !s.ServerIP.Is4() {
		return fmt.Errorf("proxyDHCP: server IP %v is not an IPv4 address: set the address clients reach rackboot at", s.ServerIP)
	}
	if s.Decide == nil {
		return errors.New("proxyDHCP: no Decide function")
	}
	return nil
}

func (s *ProxyServer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// conn is one listening socket.
type conn struct {
	pc        *ipv4.PacketConn
	port      int
	ifindex   int        // 0: any interface
	broadcast netip.Addr // what "broadcast" means when sending here
}

func (s *ProxyServer) listen(ctx context.Context, ifi *net.Interface, port int) (*conn, error) {
	c, err := listenUDP(ctx, ifi, port)
	if err != nil {
		if isAddrInUse(err) {
			return nil, fmt.Errorf("proxyDHCP: listen on UDP port %d: %w: another DHCP server on this host? "+
				"stop it, or use --dhcp-mode off and let it answer (%v)", port, ErrAddrInUse, err)
		}
		return nil, fmt.Errorf("proxyDHCP: listen on UDP port %d of %s: %w", port, ifName(ifi), err)
	}
	// A boot storm broadcasts hundreds of DISCOVERs at once: with Linux's
	// default buffer the proxy dropped 222 of 500 (rackboot bench storm),
	// and each costs its ROM a 4 s retransmission. As the full server does.
	growSocketBuffers(c, 4<<20, s.logger())
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		// Without the arrival interface we cannot filter by it; on Linux
		// SO_BINDTODEVICE filters anyway.
		s.logger().Debug("proxyDHCP: no interface control messages", "port", port, "err", err)
	}
	cn := &conn{pc: pc, port: port, broadcast: broadcastAddr(ifi)}
	if ifi != nil {
		cn.ifindex = ifi.Index
	}
	return cn, nil
}

// readLoop serves one socket until it is closed.
func (s *ProxyServer) readLoop(ctx context.Context, c *conn) error {
	buf := make([]byte, 65536)
	for {
		n, cm, src, err := c.pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("proxyDHCP: read on port %d: %w", c.port, err)
		}
		in := 0
		if cm != nil {
			in = cm.IfIndex
		}
		if c.ifindex != 0 && in != 0 && in != c.ifindex {
			continue // another interface's broadcast (BSD, illumos: no bind to device)
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		r := s.process(buf[:n], ua.AddrPort(), c.port, c.broadcast)
		if r.ev.Outcome == Answered {
			var out *ipv4.ControlMessage
			if in != 0 {
				// Reply on the interface the request came in on, which
				// matters for 255.255.255.255 when serving every interface.
				out = &ipv4.ControlMessage{IfIndex: in}
			}
			_, err = c.pc.WriteTo(r.reply, out, net.UDPAddrFromAddrPort(r.dest))
		}
		s.finish(r, err)
	}
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
	r.ev.Type, r.ev.MAC, r.ev.Arch, r.ev.IPXE = mt.String(), cl.MAC, cl.Arch, cl.IPXE
	r.ev.UUID, r.ev.VendorClass = cl.UUID, req.VendorClass
	r.ev.ClientIP = ClientAddr(p)
	if cl.NetBoot() && (mt == dhcp4.Discover || mt == dhcp4.Request) {
		s.Sightings.Record(r.ev.ClientIP, boot.Sighting{MAC: cl.MAC, Arch: cl.Arch, IPXE: cl.IPXE})
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
