package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"rackboot/internal/boot"
	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/lease"
	"rackboot/internal/metrics"
	"rackboot/internal/store"
)

// openLeases opens the lease manager of dhcp.mode full on st, and returns
// it with the options of each subnet (nil in the other modes). Our own
// addresses are never leased.
func openLeases(cfg config.Config, st store.Store, iface string, adv netip.Addr, share func() (int, int), log *slog.Logger) (*lease.Manager, []dhcp.Network, error) {
	if cfg.DHCP.Mode != config.DHCPFull {
		return nil, nil, nil
	}
	exclude := []netip.Addr{adv}
	if ip, err := dhcp.InterfaceIPv4(iface); err == nil {
		exclude = append(exclude, ip)
	}
	lc, nets, err := fullDHCPConfig(cfg.DHCP, exclude, log.With("svc", "lease")) // dhcpconfig.go
	if err != nil {
		return nil, nil, err
	}
	if _, shared := st.(store.CondCommitter); shared {
		// Other servers lease from the same pools: walk them from another
		// place than theirs (lease/shared.go).
		lc.Spread = cfg.Server.NameOrHost()
		// and each walks its own share of them first, by its rank among
		// the servers alive, so that a storm's machines are not NAKed
		// for addresses two servers offered at once.
		lc.Share = share
	}
	m, err := lease.Open(context.Background(), st, lc)
	if err != nil {
		return nil, nil, fmt.Errorf("dhcp: %w", err)
	}
	if _, ok := m.SubnetFor(adv); !ok {
		log.Warn("no dhcp.subnets entry contains the boot network's address: only clients behind DHCP relays will get addresses",
			"interface", iface, "address", adv)
	}
	return m, nets, nil
}

// dhcpServer is what Run runs for DHCP: in dhcp.mode full, the full DHCP
// server over the lease manager; in the other modes, the proxy server
// (which in mode off only watches).
func (s *Server) dhcpServer(cfg config.Config, iface string, adv netip.Addr, bootCfg boot.Config, sightings *boot.Sightings) func(context.Context) error {
	dc := dhcp.Config{
		Interface: iface,
		ServerIP:  adv,
		Decide:    bootCfg.Decide,
		Sightings: sightings,
		Logger:    s.log.With("svc", "dhcp"),
		OnEvent:   s.dhcpEvent, // ra.go: then the timeline's
	}
	if s.leases == nil {
		proxy := &dhcp.ProxyServer{Config: dc, Mode: dhcp.ModeProxy}
		if cfg.DHCP.Mode == config.DHCPOff {
			proxy.Mode = dhcp.ModeOff
		}
		return proxy.Serve
	}
	rogue := cfg.DHCP.RogueDetection == nil || *cfg.DHCP.RogueDetection
	full := &dhcp.FullServer{
		Config:         dc,
		Leases:         s.leases,
		Networks:       s.dhcpNets,
		PingTimeout:    cfg.DHCP.PingCheck.Std(),
		RogueDetection: rogue,
	}
	return full.Serve
}

// leaseMetrics adds the lease figures to /metrics, in dhcp.mode full only.
func (s *Server) leaseMetrics() {
	m := s.leases
	if m == nil {
		return
	}
	s.timeline.Metrics.Leases(func() metrics.LeaseFigures {
		st := m.Stats()
		f := metrics.LeaseFigures{Commits: st.Commits, Writes: st.Writes, CommitSeconds: st.CommitTime.Seconds(),
			Conflicts: st.Conflicts, Refused: st.Refused, OfflineRenewals: st.OfflineRenewals, Remote: st.Remote}
		for _, u := range m.Usage() {
			byState := make(map[string]int, len(u.Leases))
			for state, n := range u.Leases {
				byState[string(state)] = n
			}
			f.Subnets = append(f.Subnets, metrics.SubnetLeases{Subnet: u.Subnet.String(), PoolAddresses: u.PoolAddresses, ByState: byState,
				Exhausted: u.Exhausted, OffersTaken: u.OffersTaken, OffersDropped: u.OffersDropped})
		}
		return f
	})
}
