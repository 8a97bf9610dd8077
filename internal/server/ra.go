package server

import (
	"context"
	"net"

	"rackboot/internal/boot"
	"rackboot/internal/metrics"
	"rackboot/internal/ra"
)

// routerAdverts opens the router advertisement responder on the boot
// network when ipv6.ra is auto (DESIGN.md, "Router advertisements that
// configure nothing"): machines that DHCP as PXE or iPXE (sightings) get
// an advertisement that configures nothing. A responder that cannot open
// (no IPv6 on the interface, an OS without support) is logged, and serve
// goes on without it: boots are slower, not broken.
func (s *Server) routerAdverts(iface string, sightings *boot.Sightings) {
	if !s.cfg.IPv6.RAEnabled() {
		return
	}
	log := s.log.With("svc", "ra")
	r, err := ra.Listen(ra.Config{
		Interface: iface,
		Logger:    log,
		Booting: func(mac net.HardwareAddr) bool {
			_, _, ok := sightings.ByMAC(mac)
			return ok
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
