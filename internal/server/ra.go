package server

import (
	"context"
	"net"
	"sync"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp"
	"rackboot/internal/metrics"
	"rackboot/internal/observe"
	"rackboot/internal/ra"
)

// routerAdverts opens the router advertisement responder on the boot
// network when ipv6.ra is auto (DESIGN.md, "Router advertisements that
// configure nothing"): machines that DHCP as PXE or iPXE get an
// advertisement that configures nothing. Who is booting: the sightings
// (clients at an address, from DHCP requests, menus and the other servers
// of a cluster) and s.booting (every boot client's DHCP, DISCOVER included:
// iPXE solicits from the moment it starts DHCP, before its REQUEST names an
// address). A responder that cannot open (no raw socket, an OS without
// support) is logged, and serve goes on without it: boots are slower, not
// broken.
func (s *Server) routerAdverts(iface string, sightings *boot.Sightings) {
	if !s.cfg.IPv6.RAEnabled() {
		return
	}
	log := s.log.With("svc", "ra")
	r, err := ra.Listen(ra.Config{
		Interface: iface,
		Logger:    log,
		Booting: func(mac net.HardwareAddr) bool {
			if _, _, ok := sightings.ByMAC(mac); ok {
				return true
			}
			return s.booting.has(mac)
		},
	})
	if err != nil {
		log.Warn("not answering IPv6 router solicitations: iPXE will wait ~13 s for a router on each boot "+
			"(set ipv6.ra: off to silence this)", "err", err)
		return
	}
	s.ra = r
	s.timeline.Metrics.RA(func() metrics.RAFigures {
		st := r.Stats()
		return metrics.RAFigures{Answered: st.Answered, SuppressedByRouter: st.SuppressedByRouter,
			NotBooting: st.NotBooting, Silent: st.Silent}
	})
}

// runRA serves router advertisements until ctx ends; without a responder
// it returns at once.
func (s *Server) runRA(ctx context.Context) error {
	if s.ra == nil {
		return nil
	}
	if err := s.ra.Serve(ctx); err != nil {
		// Boots go on without it, only slower.
		s.log.Warn("router advertisements stopped", "svc", "ra", "err", err)
	}
	return nil
}

// dhcpEvent is the DHCP servers' OnEvent: the boot timeline's, after
// noting a boot client's MAC for the router advertisement responder.
func (s *Server) dhcpEvent(ev dhcp.Event) {
	if s.ra != nil && observe.NetBoot(ev) {
		s.booting.note(ev.MAC, ev.Time)
	}
	s.timeline.DHCP(ev)
}

// bootClients remembers the MACs of network-boot clients seen in DHCP for
// as long as a sighting lives, at most bootClientsMax of them.
type bootClients struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const bootClientsMax = boot.DefaultSightingLimit

func (b *bootClients) note(mac net.HardwareAddr, at time.Time) {
	if len(mac) == 0 {
		return
	}
	if at.IsZero() {
		at = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = make(map[string]time.Time)
	}
	if len(b.seen) >= bootClientsMax {
		for k, t := range b.seen {
			if time.Since(t) >= boot.DefaultSightingTTL {
				delete(b.seen, k)
			}
		}
		if len(b.seen) >= bootClientsMax {
			return // a flood of made-up MACs: the sightings still answer
		}
	}
	b.seen[string(mac)] = at
}

func (b *bootClients) has(mac net.HardwareAddr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.seen[string(mac)]
	return ok && time.Since(at) < boot.DefaultSightingTTL
}
