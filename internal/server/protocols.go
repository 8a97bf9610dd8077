package server

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/boot"
	"rackboot/internal/config"
	"rackboot/internal/firmware"
	"rackboot/internal/httpd"
	"rackboot/internal/menu"
	"rackboot/internal/metrics"
	"rackboot/internal/pxe"
	"rackboot/internal/secureboot"
	"rackboot/internal/tftp"
	"rackboot/internal/version"
	dashboard "rackboot/web"
)

// protocols builds DHCP, TFTP and HTTP over what New built before them,
// and checks the menu against the URL clients will reach it on.
func (s *Server) protocols(cfg config.Config, iface string, adv netip.Addr, builds firmware.Set, sightings *boot.Sightings, apiServer *api.Server) error {
	log := s.log
	rawLn, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	s.httpLn = httpd.LimitListener(rawLn, cfg.HTTP.MaxConnections, cfg.HTTP.MaxConnectionsPerClient, log.With("svc", "http"))
	bootCfg := boot.Config{
		ServerIP:    adv,
		HTTPBase:    httpBase(adv, s.httpLn.Addr()),
		HasFile:     builds.Has,
		FirmwareDir: strings.Join(firmware.SearchPath(cfg.IPXEDir), " or "),
	}
	if err := s.menu.CheckStart(bootCfg.HTTPBase); err != nil {
		return err
	}
	override := boot.LoopBreaker(sightings, bootCfg)
	var renderGRUB secureboot.Render
	if s.chain != nil {
		bootCfg.SecureBootFile = s.chain.ShimName()
		bootCfg.SecureBoot = func(mac net.HardwareAddr) bool {
			// On the DHCP path: a store read, bounded (etcd without quorum
			// must not hold a DHCP answer); unreadable reads as "no".
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			return s.menu.SecureBoot(ctx, mac.String())
		}
		renderGRUB = func(ctx context.Context, mac net.HardwareAddr, client netip.Addr) ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return s.menu.RenderGRUB(ctx, menu.Request{MAC: mac, Arch: pxe.ArchEFIx8664, BaseURL: bootCfg.HTTPBase, Client: client})
		}
		override = s.chain.Override(renderGRUB, override)
	}
	s.dhcp = s.dhcpServer(cfg, iface, adv, bootCfg, sightings) // dhcp.go
	s.tftp = &tftp.Server{
		Root:       s.files,
		Override:   override,
		Logger:     log.With("svc", "tftp"),
		OnTransfer: s.timeline.TFTP,

		MaxTransfers:          cfg.TFTP.MaxTransfers,
		MaxTransfersPerClient: cfg.TFTP.MaxTransfersPerClient,
	}
	// What the flood caps did (DESIGN: what bounds each protocol under a flood).
	s.timeline.Metrics.Limits(func() metrics.LimitFigures {
		t, h := s.tftp.Stats(), s.httpLn.Stats()
		return metrics.LimitFigures{TFTPRefused: t.Refused, TFTPShed: t.Shed, TFTPActive: t.Active,
			HTTPRefused: h.Refused, HTTPOpen: int64(h.Open)}
	})
	web := &httpd.Server{
		Files: s.files,
		Menu: func(ctx context.Context, r httpd.MenuRequest) ([]byte, error) {
			return s.menu.Render(ctx, menu.Request(r))
		},
		Logger: log.With("svc", "http"),
		OnFile: s.timeline.HTTP,
		API:    apiServer,

		OnProgress: s.timeline.HTTPProgress,
		Dashboard:  dashboard.Handler(),
		Metrics:    s.timeline.Metrics.Handler(),
	}
	s.handler = web.Handler()
	if s.chain != nil {
		s.handler = s.chain.Handler(renderGRUB, s.handler)
	}
	s.http = web.HTTPServer() // timeouts and header cap; connections capped by httpLn
	// What it serves is s.handler, the Secure Boot chain's grub.cfg in
	// front (HTTPServer's own handler is web's alone: a shim started by
	// UEFI HTTP boot got 404 for its GRUB's configuration).
	s.http.Handler = s.handler
	s.started = []any{"version", version.Version, "interface", iface, "advertise", adv,
		"dhcp", cfg.DHCP.Mode, "tftp", cfg.TFTPAddr, "http", s.httpLn.Addr().String(),
		"menu", bootCfg.HTTPBase + "/boot.ipxe", "data_dir", cfg.DataDir, "ipxe", builds.Names()}
	return nil
}
