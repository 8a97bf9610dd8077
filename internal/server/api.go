package server

import (
	"context"
	"net"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/lease"
	"rackboot/internal/machines"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

// api is /api/v1, every resource mounted: machines and events, token
// rotation, platforms, leases.
func (s *Server) api(cfg config.Config, tokens *api.Tokens, registry *machines.Registry, importer *smartos.Importer) *api.Server {
	a := &api.Server{Token: tokens.Token, OpenReads: cfg.API.OpenReads, Logger: s.log.With("svc", "api"),
		OnRefused: s.timeline.Metrics.APIRefused}
	api.RegisterTokenRotate(a, tokens)
	a.EnableSessions() // the dashboard's sign-in
	m := &api.Machines{
		Registry:     registry,
		CurrentRules: s.menu.Rules, // reload.go: the rules in effect
		Events:       s.timeline.Events,
		Done:         s.stopping,
		HashPassword: smartos.HashPassword,
		Check: func(_ context.Context, mac string, e machines.Effective) error {
			return s.menu.CheckMachine(mac, e)
		},
		Menu:     s.preview,
		OnDelete: s.bmc.Creds.Delete, // bmc.go: its BMC settings go with it
	}
	m.Register(a)
	(&api.Power{Operator: s.bmc, Machines: m}).Register(a) // bmc.go
	(&api.Platforms{Importer: importer, Boots: bootCounts(registry)}).Register(a)
	(&api.Leases{List: s.listLeases, Usage: s.leaseUsage}).Register(a)
	(&api.Servers{View: s.members}).Register(a) // cluster.go
	return a
}

// preview is the menu a machine would get now (GET /machines/{mac}/menu).
func (s *Server) preview(ctx context.Context, mac, arch, features, baseURL string) ([]byte, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	a, err := pxe.ParseArch(arch)
	if err != nil {
		return nil, err
	}
	fs, err := pxe.ParseFeatureList(features)
	if err != nil {
		return nil, err
	}
	return s.menu.Preview(ctx, menu.Request{MAC: hw, Arch: a, Features: fs, BaseURL: baseURL})
}

// listLeases is GET /api/v1/leases: the full DHCP server's leases, else
// whatever the store holds (from an earlier run in dhcp.mode full).
func (s *Server) listLeases(ctx context.Context) ([]lease.Lease, error) {
	if s.leases != nil {
		return s.leases.List(), nil
	}
	return lease.List(ctx, s.store)
}

// leaseUsage is GET /api/v1/subnets: the lease manager's subnets, none in
// the other modes.
func (s *Server) leaseUsage() []lease.SubnetUsage {
	if s.leases != nil {
		return s.leases.Usage()
	}
	return nil
}
