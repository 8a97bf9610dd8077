package ra

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
)

// Defaults for a zero Config.
const (
	// DefaultQuiet is how long an advertisement from a real router keeps
	// rackboot silent: RFC 4861 §6.2.1 lets a router advertise as seldom
	// as every 1800 s (MaxRtrAdvInterval), so a shorter wait could start
	// answering between two of a real router's advertisements.
	DefaultQuiet = 30 * time.Minute
	// DefaultPerMAC is the least time between two answers to one machine.
	// iPXE solicits at about +0, +0.3, +0.8, +1.9, +3.9, +8 s: one answer
	// ends it, and a lost one is made good by the next solicitation.
	DefaultPerMAC = time.Second
)

// Config is what the responder needs. Interface and Booting are required.
type Config struct {
	Interface string                          // the boot network
	Booting   func(mac net.HardwareAddr) bool // is this machine network-booting now?
	Logger    *slog.Logger                    // nil: slog.Default()
	Quiet     time.Duration                   // 0: DefaultQuiet
	PerMAC    time.Duration                   // 0: DefaultPerMAC
	Now       func() time.Time                // nil: time.Now
}

// Stats are the responder's counters since it started.
type Stats struct {
	Answered           int64 // advertisements sent
	SuppressedByRouter int64 // solicitations of booting machines left to a real router
	NotBooting         int64 // solicitations from machines not network-booting (or with no link-layer address)
	RateLimited        int64 // solicitations within PerMAC of the last answer to that machine
	Invalid            int64 // messages that failed RFC 4861 validation
	RouterAdverts      int64 // advertisements heard from real routers (they configure something)
	Silent             bool  // a real router advertised within Quiet
}

// Responder answers router solicitations on one interface.
type Responder struct {
	cfg  Config
	log  *slog.Logger
	conn conn

	mu       sync.Mutex
	last     map[string]time.Time // per MAC: our last answer
	routerAt time.Time            // last advertisement from a real router
	silent   bool

	answered, suppressed, notBooting, limited, invalid, routers atomic.Int64
}

// conn is the socket: one per OS (listen_<os>.go), a fake in tests.
type conn interface {
	// read returns an ICMPv6 message, its source and the hop limit it
	// arrived with; ok false for a packet to skip (another interface).
	read(b []byte) (n int, src netip.Addr, hopLimit int, ok bool, err error)
	write(b []byte, dst netip.Addr) error
	mac() net.HardwareAddr
	isLocal(a netip.Addr) bool // one of our own addresses
	Close() error
}

// ErrNotSupported is returned by Listen on an OS without the raw ICMPv6
// socket options the responder needs.
var ErrNotSupported = errors.New("router advertisements are not supported on this OS")

// Listen opens the responder's socket on cfg.Interface. It needs the
// privilege to open a raw ICMPv6 socket (root, or CAP_NET_RAW on Linux) and
// an IPv6 link-local address on the interface (RFC 4861 §4.2: an RA's source
// must be one).
func Listen(cfg Config) (*Responder, error) {
	if cfg.Interface == "" || cfg.Booting == nil {
		return nil, errors.New("ra: Interface and Booting are required")
	}
	c, err := listen(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("router advertisements on %s: %w", cfg.Interface, err)
	}
	return newResponder(cfg, c), nil
}

func newResponder(cfg Config, c conn) *Responder {
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	if cfg.PerMAC <= 0 {
		cfg.PerMAC = DefaultPerMAC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Responder{cfg: cfg, log: log, conn: c, last: make(map[string]time.Time)}
}

// Serve answers until ctx ends, then closes the socket. At start it sends
// one router solicitation of its own, so that a real router on the link
// answers and silences us before the first machine boots.
func (r *Responder) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	defer r.conn.Close()
	// A link-local address is tentative for about a second after the link
	// comes up (duplicate address detection): try a few times. Solicitations
	// that arrive meanwhile wait in the socket.
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		err := r.conn.write(marshalSolicitation(r.conn.mac()), allRouters)
		if err == nil {
			break
		}
		r.log.Debug("router solicitation not sent", "interface", r.cfg.Interface, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	r.log.Info("answering router solicitations of booting machines with advertisements that configure nothing",
		"interface", r.cfg.Interface)
	buf := make([]byte, 1500)
	for {
		n, src, hop, ok, err := r.conn.read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("router advertisements on %s: %w", r.cfg.Interface, err)
		}
		if !ok {
			continue
		}
		reply, dst, send := r.handle(buf[:n], src, hop)
		if !send {
			continue
		}
		if err := r.conn.write(reply, dst); err != nil {
			r.log.Warn("router advertisement not sent", "interface", r.cfg.Interface, "to", dst, "err", err)
			continue
		}
		r.answered.Add(1)
	}
}

// Close closes the socket (Serve closes it too when its context ends).
func (r *Responder) Close() error { return r.conn.Close() }

var (
	allNodes   = netip.MustParseAddr("ff02::1")
	allRouters = netip.MustParseAddr("ff02::2")
)

// handle decides what to do with one ICMPv6 message: the advertisement to
// send and where, or nothing.
func (r *Responder) handle(b []byte, src netip.Addr, hop int) (reply []byte, dst netip.Addr, send bool) {
	if len(b) == 0 || r.conn.isLocal(src) {
		return nil, dst, false
	}
	now := r.cfg.Now()
	switch b[0] {
	case TypeRouterAdvertisement:
		r.heardAdvertisement(b, src, hop, now)
		return nil, dst, false
	case TypeRouterSolicitation:
	default:
		return nil, dst, false
	}
	rs, err := ParseSolicitation(b)
	// RFC 4861 §6.1.1: hop limit 255 (never forwarded), and an unspecified
	// source carries no link-layer option.
	if err == nil && hop != 255 {
		err = fmt.Errorf("hop limit %d, not 255", hop)
	}
	if err == nil && src.IsUnspecified() && rs.SourceMAC != nil {
		err = errors.New("unspecified source with a link-layer address option")
	}
	if err != nil {
		r.invalid.Add(1)
		r.log.Debug("router solicitation ignored", "interface", r.cfg.Interface, "from", src, "err", err)
		return nil, dst, false
	}
	if rs.SourceMAC == nil || !r.cfg.Booting(rs.SourceMAC) {
		r.notBooting.Add(1)
		r.log.Debug("router solicitation from a machine not network-booting: not answered", "interface", r.cfg.Interface, "from", src, "mac", rs.SourceMAC.String())
		return nil, dst, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.silentLocked(now) {
		r.suppressed.Add(1)
		r.log.Debug("router solicitation left to the link's router", "interface", r.cfg.Interface, "mac", rs.SourceMAC.String())
		return nil, dst, false
	}
	key := string(rs.SourceMAC)
	if at, ok := r.last[key]; ok && now.Sub(at) < r.cfg.PerMAC {
		r.limited.Add(1)
		return nil, dst, false
	}
	r.pruneLocked(now)
	r.last[key] = now
	dst = src
	if src.IsUnspecified() {
		dst = allNodes
	}
	r.log.Debug("router advertisement sent (lifetime 0, no prefix)", "interface", r.cfg.Interface, "to", dst, "mac", rs.SourceMAC.String())
	// Lifetime 0: not a default router; no prefix: nothing to configure;
	// M and O clear: no DHCPv6; hop limit, reachable, retrans 0: unspecified.
	return Advertisement{SourceMAC: r.conn.mac()}.Marshal(), dst, true
}

// heardAdvertisement notes another router's advertisement.
func (r *Responder) heardAdvertisement(b []byte, src netip.Addr, hop int, now time.Time) {
	a, err := ParseAdvertisement(b)
	if err == nil && (hop != 255 || !src.Is6() || !src.IsLinkLocalUnicast()) {
		err = fmt.Errorf("hop limit %d from %s: not a router on this link", hop, src)
	}
	if err != nil {
		r.invalid.Add(1)
		r.log.Debug("router advertisement ignored", "interface", r.cfg.Interface, "from", src, "err", err)
		return
	}
	if !a.Configures() {
		return // another responder like us (lifetime 0, nothing): no conflict
	}
	r.routers.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routerAt = now
	if !r.silent {
		r.silent = true
		r.log.Info("another router advertises on "+r.cfg.Interface+": staying silent",
			"router", src, "lifetime", a.Lifetime, "prefixes", a.Prefixes, "managed", a.Managed, "other", a.Other)
	}
}

// silentLocked reports whether a real router advertised within Quiet, and
// logs the change back to answering. Caller holds r.mu.
func (r *Responder) silentLocked(now time.Time) bool {
	if !r.silent {
		return false
	}
	if now.Sub(r.routerAt) < r.cfg.Quiet {
		return true
	}
	r.silent = false
	r.log.Info("no other router has advertised on " + r.cfg.Interface + " for " + r.cfg.Quiet.String() +
		": answering router solicitations of booting machines again")
	return false
}

// pruneLocked forgets answers older than PerMAC once the table is large.
func (r *Responder) pruneLocked(now time.Time) {
	if len(r.last) < 4096 {
		return
	}
	for k, at := range r.last {
		if now.Sub(at) >= r.cfg.PerMAC {
			delete(r.last, k)
		}
	}
}

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	r.mu.Lock()
	silent := r.silent && r.cfg.Now().Sub(r.routerAt) < r.cfg.Quiet
	r.mu.Unlock()
	return Stats{
		Answered: r.answered.Load(), SuppressedByRouter: r.suppressed.Load(), NotBooting: r.notBooting.Load(),
		RateLimited: r.limited.Load(), Invalid: r.invalid.Load(), RouterAdverts: r.routers.Load(), Silent: silent,
	}
}
