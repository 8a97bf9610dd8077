package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/lease"
	"rackboot/internal/metrics"
	"rackboot/internal/store"
)

// leaseSource is what GET /api/v1/leases lists: the full DHCP server's
// lease manager once serve has opened it, else whatever the store holds
// (from an earlier run in dhcp.mode full).
type leaseSource struct {
	st store.Store
	m  atomic.Pointer[lease.Manager]
}

func (l *leaseSource) list(ctx context.Context) ([]lease.Lease, error) {
	if m := l.m.Load(); m != nil {
		return m.List(), nil
	}
	return lease.List(ctx, l.st)
}

// usage is what GET /api/v1/subnets lists: the lease manager's subnets,
// none in the other modes.
func (l *leaseSource) usage() []lease.SubnetUsage {
	if m := l.m.Load(); m != nil {
		return m.Usage()
	}
	return nil
}

// mountLeases serves GET /api/v1/leases and /api/v1/subnets.
func (s *services) mountLeases() {
	s.leases.st = s.store
	(&api.Leases{List: s.leases.list, Usage: s.leases.usage}).Register(s.api)
}

// leaseMetrics adds the lease figures to /metrics, in dhcp.mode full only
// (once dhcpServer has opened the lease manager).
func (s *services) leaseMetrics(mt *metrics.Metrics) {
	m := s.leases.m.Load()
	if m == nil {
		return
	}
	mt.Leases(func() metrics.LeaseFigures {
		st := m.Stats()
		f := metrics.LeaseFigures{Commits: st.Commits, Writes: st.Writes, CommitSeconds: st.CommitTime.Seconds()}
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

// dhcpServer is what serve runs for DHCP: in dhcp.mode full, the full DHCP
// server built from the proxy server serve configured (interface, address,
// boot decision, hooks) with its lease manager, which closes with the
// services, before the store; in the other modes, the proxy server itself.
func (s *services) dhcpServer(ctx context.Context, proxy *dhcp.ProxyServer, cfg config.Config, log *slog.Logger) (func(context.Context) error, error) {
	if cfg.DHCP.Mode != config.DHCPFull {
		return proxy.Serve, nil
	}
	exclude := []netip.Addr{proxy.ServerIP}
	if ip, err := dhcp.InterfaceIPv4(proxy.Interface); err == nil {
		exclude = append(exclude, ip)
	}
	lc, nets, err := fullDHCPConfig(cfg.DHCP, exclude, log.With("svc", "lease"))
	if err != nil {
		return nil, err
	}
	m, err := lease.Open(ctx, s.store, lc)
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	s.stops = append(s.stops, func() { m.Close() })
	s.leases.m.Store(m)
	if _, ok := m.SubnetFor(proxy.ServerIP); !ok {
		log.Warn("no dhcp.subnets entry contains the boot network's address: only clients behind DHCP relays will get addresses",
			"interface", proxy.Interface, "address", proxy.ServerIP)
	}
	rogue := cfg.DHCP.RogueDetection == nil || *cfg.DHCP.RogueDetection
	full := &dhcp.FullServer{
		Interface:      proxy.Interface,
		ServerIP:       proxy.ServerIP,
		Leases:         m,
		Networks:       nets,
		Decide:         proxy.Decide,
		Sightings:      proxy.Sightings,
		PingTimeout:    cfg.DHCP.PingCheck.Std(),
		RogueDetection: rogue,
		Logger:         proxy.Logger,
		OnEvent:        proxy.OnEvent,
	}
	return full.Serve, nil
}
