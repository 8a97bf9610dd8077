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

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
	"rackboot/internal/pxe"
)

// FullServer is a DHCPv4 server (RFC 2131, RFC 2132): it leases addresses
// from a lease.Manager and, to network-boot clients, says where to boot from
// exactly as ProxyServer does (same Decide, same boot fields). Set its
// fields, then call Serve once.
//
// Every DHCPACK is sent only after its lease is durable: a REQUEST is
// decided at once and its lease queued for the store's next group commit
// (lease.Manager.AckAsync); the ACK is built and sent when that commit is
// done. Meanwhile the reading goes on, so the requests that arrive during
// one commit all go into the next. Two goroutines do the work: the reader
// (serverLoop, full_io.go) and the lease manager's committer; every handoff
// between goroutines can cost a wait for a CPU on a busy host, so there are
// no more.
//
//	port 67 ─▶ serverLoop ─▶ DISCOVER, INFORM, NAK: answered at once, sent per read batch
//	                     └─▶ REQUEST: lease.AckAsync ─▶ committer: commit (fsync),
//	                                                    then each ACK built and sent
type FullServer struct {
	// Config: Interface, ServerIP (required), Decide (nil: leases without
	// boot fields), Sightings (as in proxy mode), Logger, OnEvent.
	Config
	// Leases allocates addresses and keeps the lease records.
	Leases *lease.Manager
	// Networks carry the options for each leased subnet (router, DNS...);
	// a subnet of Leases without one gets only the mask and lease times.
	Networks []Network
	// PingTimeout, when positive, pings an address before offering it for
	// the first time and waits this long for an answer; an answered ping
	// quarantines the address (lease.Manager.Conflict) and another is offered.
	PingTimeout time.Duration
	// Pinger replaces the ICMP pinger used for PingTimeout (tests).
	Pinger Pinger
	// RogueDetection listens on the client port (68) for other DHCP
	// servers' offers on our link and warns about each server.
	RogueDetection bool
	// MaxInFlight is how many RELEASEs, DECLINEs and, with the ping check,
	// DISCOVERs may wait at once, each on a worker goroutine (default
	// 1024). REQUESTs wait for the store without a goroutine each.
	MaxInFlight int
	// OnRogue, when not nil, is called for each reply seen from another
	// DHCP server (see RogueDetection).
	OnRogue func(Rogue)

	nets       map[netip.Prefix]*network
	local      []netip.Addr // our addresses on Interface: they select the subnet of unrelayed clients
	pxe        *ProxyServer // answers port 4011
	ping       Pinger
	jobs       chan job
	inflight   sync.WaitGroup // workers, and REQUESTs waiting for the store
	counts     fullCounters
	rogueMu    sync.Mutex
	rogues     map[netip.Addr]*Rogue
	lastWarned map[netip.Addr]time.Time
	exhausted  exhaustion
}

// Handled is the outcome of a RELEASE or DECLINE: acted on, nothing to send.
const Handled Outcome = "handled"

// Network is the configuration of one leased subnet beyond its addresses.
type Network struct {
	Prefix netip.Prefix
	Router netip.Addr
	DNS    []netip.Addr
	NTP    []netip.Addr
	Domain string
	MTU    int
	// T1 and T2 (options 58, 59); zero: half and seven eighths of the
	// lease (RFC 2131 §4.4.5).
	T1, T2 time.Duration
	// Extra options by code, sent as given.
	Extra dhcp4.Options
}

// FullStats are the full server's counters.
type FullStats struct {
	Stats
	Offers, Acks, Naks, Releases, Declines, Informs, Conflicts, RogueReplies uint64
}

type fullCounters struct {
	received, answered, handled, ignored, malformed, sendErrors       atomic.Uint64
	offers, acks, naks, releases, declines, informs, conflicts, rogue atomic.Uint64
}

// Stats returns the counters so far. Received = Answered (RELEASE and
// DECLINE included) + Ignored + Malformed, once in-flight requests end;
// replies are sent after they are counted, and SendErrors counts those
// that could not be.
func (s *FullServer) Stats() FullStats {
	c := &s.counts
	return FullStats{
		Stats: Stats{Received: c.received.Load(), Answered: c.answered.Load() + c.handled.Load(),
			Ignored: c.ignored.Load(), Malformed: c.malformed.Load(), SendErrors: c.sendErrors.Load()},
		Offers: c.offers.Load(), Acks: c.acks.Load(), Naks: c.naks.Load(), Releases: c.releases.Load(),
		Declines: c.declines.Load(), Informs: c.informs.Load(), Conflicts: c.conflicts.Load(),
		RogueReplies: c.rogue.Load(),
	}
}

// Serve listens on ports 67 and 4011 (and 68 for rogue detection) until ctx
// is done, waits for the requests in flight, and returns nil; or returns an
// error when it cannot listen or a socket fails.
func (s *FullServer) Serve(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	ifi, err := lookupInterface(s.Interface)
	if err != nil {
		return err
	}
	if err := s.findLocal(ifi); err != nil {
		return err
	}
	if s.PingTimeout > 0 && s.ping == nil {
		p, err := newICMPPinger(s.logger())
		if err != nil {
			return fmt.Errorf("DHCP ping check: %w (run as root, or set dhcp.ping_check: 0)", err)
		}
		defer p.Close()
		s.ping = p
	}
	loops, err := s.listen(ctx, ifi)
	if err != nil {
		return err
	}
	s.logger().Info("DHCP server listening", "interface", ifName(ifi), "server_ip", s.ServerIP,
		"subnets", len(s.nets), "ping_check", s.PingTimeout, "rogue_detection", len(loops) > 2)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.startWorkers(ctx)
	err = serveLoops(ctx, loops)
	cancel() // a socket failed, or ctx is done: what still waits gives up
	close(s.jobs)
	s.inflight.Wait()
	return err
}

// init checks the fields and prepares the per-subnet options.
func (s *FullServer) init() error {
	if err := s.checkServerIP(); err != nil {
		return err
	}
	if s.Leases == nil {
		return errors.New("DHCP: no lease manager")
	}
	s.nets = map[netip.Prefix]*network{}
	for i := range s.Networks {
		n := &s.Networks[i]
		if _, dup := s.nets[n.Prefix]; dup {
			return fmt.Errorf("DHCP: two networks for %v", n.Prefix)
		}
		s.nets[n.Prefix] = compileNetwork(n)
	}
	if s.MaxInFlight <= 0 {
		s.MaxInFlight = 1024
	}
	s.ping = s.Pinger
	s.rogues = map[netip.Addr]*Rogue{}
	s.lastWarned = map[netip.Addr]time.Time{}
	// Port 4011 is proxyDHCP's: a PXE ROM that wants its boot file
	// confirmed asks there, whoever gave it its address.
	s.pxe = &ProxyServer{Config: s.Config, Mode: ModeProxy}
	if s.pxe.Decide == nil {
		s.pxe.Decide = func(pxe.Client) boot.Decision { return boot.Decision{Reason: "no boot configuration"} }
	}
	return nil
}

// findLocal notes our addresses on ifi besides ServerIP: they select the
// subnet of unrelayed clients (link) and are not rogue servers.
func (s *FullServer) findLocal(ifi *net.Interface) error {
	if ifi == nil {
		return nil
	}
	prefixes, err := interfacePrefixes(ifi)
	if err != nil {
		return fmt.Errorf("DHCP: %w", err)
	}
	for _, p := range prefixes {
		if p.Addr() != s.ServerIP {
			s.local = append(s.local, p.Addr())
		}
	}
	return nil
}

// listen opens port 67 (serverLoop, full_io.go), port 4011 (the proxy's
// loop) and, for rogue detection, port 68 (rogueLoop), which may fail.
func (s *FullServer) listen(ctx context.Context, ifi *net.Interface) ([]loop, error) {
	conns, err := listenAll(ctx, ifi, []int{dhcp4.PortServer, dhcp4.PortPXE}, s.logger())
	if err != nil {
		return nil, err
	}
	loops := []loop{{conns[0], s.serverLoop}, {conns[1], s.pxe.serveConn}}
	if s.RogueDetection {
		if c, err := listen(ctx, ifi, dhcp4.PortClient, s.logger()); err != nil {
			s.logger().Warn("rogue DHCP server detection is off: cannot listen on UDP port 68", "err", err)
		} else {
			loops = append(loops, loop{c, s.rogueLoop})
		}
	}
	return loops, nil
}

// dispatch handles one packet from port 67: at once when no store write or
// ping is involved, else on its own goroutine.
func (s *FullServer) dispatch(ctx context.Context, c *conn, b []byte, src netip.AddrPort, in int, out *outbox) {
	s.counts.received.Add(1)
	req, err := Decode(b)
	if err != nil {
		ev := Event{Time: time.Now(), Port: dhcp4.PortServer, From: src, Outcome: Malformed, Reason: err.Error()}
		if errors.Is(err, errNotRequest) {
			ev.Outcome = Ignored
		}
		s.finish(c, in, reply{ev: ev}, out)
		return
	}
	switch mt := req.MessageType(); {
	case mt == dhcp4.Request:
		// No goroutine waits for the store: the answer is built and sent
		// by the lease manager's committer once the lease is durable, or
		// here and now for a renewal of a lease that already is
		// (lease.Manager.AckAsync).
		s.inflight.Add(1)
		r, pending := s.handle(ctx, req, src, c.broadcast, func(r reply) {
			s.finish(c, in, r, nil)
			s.inflight.Done()
		})
		if !pending {
			s.finish(c, in, r, out)
			s.inflight.Done()
		}
	case mt == dhcp4.Release, mt == dhcp4.Decline, mt == dhcp4.Discover && s.ping != nil:
		s.jobs <- job{c: c, req: req, src: src, in: in}
	default:
		r, _ := s.handle(ctx, req, src, c.broadcast, nil)
		s.finish(c, in, r, out)
	}
}

// job is a request for a worker: one that waits for the store or a ping.
type job struct {
	c   *conn
	req *dhcp4.Packet
	src netip.AddrPort
	in  int
}

// startWorkers starts MaxInFlight goroutines for the requests that wait:
// RELEASE and DECLINE (for the store; rare) and, with the ping check,
// DISCOVER (for the ping). REQUESTs do not wait on a goroutine (dispatch).
// Long-lived workers keep their grown stacks; a goroutine per request paid
// for growing one each time.
func (s *FullServer) startWorkers(ctx context.Context) {
	s.jobs = make(chan job, s.MaxInFlight)
	for range s.MaxInFlight {
		s.inflight.Go(func() {
			for j := range s.jobs {
				r, _ := s.handle(ctx, j.req, j.src, j.c.broadcast, nil)
				s.finish(j.c, j.in, r, nil)
			}
		})
	}
}

// reply is what handle decided for one request.
type reply struct {
	ev   Event
	pkt  *dhcp4.Packet // nil: nothing to send
	dest netip.AddrPort
	// pooled: pkt.Options came from replyOptions, and goes back once
	// pkt is encoded.
	pooled bool
}

// finish sends r's packet (now, or with out's batch), counts, logs and
// reports it.
func (s *FullServer) finish(c *conn, in int, r reply, out *outbox) {
	ev := r.ev
	sent := r.pkt != nil
	if sent {
		s.send(c, outMsg{b: r.encode(), dest: r.dest, ifindex: in}, out) // send errors: counted and logged there
	}
	log := s.logger()
	switch ev.Outcome {
	case Answered, Handled:
		if ev.Outcome == Answered {
			s.counts.answered.Add(1)
		} else {
			s.counts.handled.Add(1)
		}
		level := slog.LevelInfo
		if ev.Type == "DISCOVER" {
			level = slog.LevelDebug
		}
		if log.Enabled(context.Background(), level) {
			attrs := []any{"mac", ev.MAC.String(), "ip", ev.ClientIP, "reply", ev.Reason}
			if ev.BootFile != "" {
				attrs = append(attrs, "arch", ev.Arch.String(), "file", ev.BootFile)
			}
			if sent {
				attrs = append(attrs, "to", r.dest.String())
			}
			log.Log(context.Background(), level, "DHCP "+ev.Type, attrs...)
		}
	case Ignored:
		s.counts.ignored.Add(1)
		log.Debug("DHCP ignore", "type", ev.Type, "mac", ev.MAC.String(), "from", ev.From.String(), "reason", ev.Reason)
	case Malformed:
		s.counts.malformed.Add(1)
		log.Debug("DHCP malformed packet", "from", ev.From.String(), "reason", ev.Reason)
	case SendError:
		s.counts.sendErrors.Add(1)
		log.Warn("DHCP could not send reply", "mac", ev.MAC.String(), "err", ev.Reason)
	}
	if s.OnEvent != nil {
		s.OnEvent(ev)
	}
}
