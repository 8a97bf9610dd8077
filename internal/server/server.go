// Package server assembles rackboot serve: the store, the machine
// registry, the boot timeline (events and metrics), the menu renderer, the
// leases of full DHCP mode and the protocol servers, in that order and in
// one place (New), runs them (Run) and releases them (Close). A Server is
// complete when New returns: nothing is filled in afterwards.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"rackboot/internal/api"
	"rackboot/internal/bmc"
	"rackboot/internal/boot"
	"rackboot/internal/bootfs"
	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/httpd"
	"rackboot/internal/lease"
	"rackboot/internal/machines"
	"rackboot/internal/observe"
	"rackboot/internal/ra"
	"rackboot/internal/secureboot"
	"rackboot/internal/store"
	"rackboot/internal/target"
	"rackboot/internal/tftp"
	"rackboot/internal/timeline"
	"rackboot/internal/version"
)

// Server is one rackboot serve.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	files    *bootfs.FS
	chain    *secureboot.Chain // files.go: the signed chain of Secure Boot machines; nil: none
	timeline *observe.Observer
	menu     *liveMenu      // reload.go: swapped whole by Reload
	leases   *lease.Manager // dhcp.mode full only; nil otherwise
	dhcpNets []dhcp.Network // the options of leases' subnets (dhcpconfig.go)
	dhcp     func(context.Context) error
	tftp     *tftp.Server
	httpLn   *httpd.LimitedListener
	http     *http.Server
	handler  http.Handler  // what http serves: files, menu, API, dashboard, metrics
	stopping chan struct{} // closed when Run's context ends: live event streams end
	stopOnce sync.Once
	started  []any        // the start line's attributes
	cl       clusterParts // cluster.go: the servers sharing the store

	sharedTimeline *timeline.Sharer // timeline.go: etcd only; nil otherwise
	ra             *ra.Responder    // ra.go: ipv6.ra auto; nil otherwise
	booting        bootClients      // ra.go: boot clients' MACs from DHCP
	bmc            *bmc.Operator    // bmc.go: power through machines' BMCs
	reload         reloadState      // reload.go
}

// New builds the whole server from cfg, which Validate has accepted. On
// error, what it opened is closed again.
func New(cfg config.Config, log *slog.Logger, opts ...Option) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log, stopping: make(chan struct{})}
	s.reload.applied = cfg
	for _, o := range opts {
		o(s)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	iface, adv, err := bootNetwork(cfg) // network.go
	if err != nil {
		return nil, err
	}
	builds, memtest := findBuilds(cfg, log) // files.go
	targets, err := Targets(cfg)            // menu.go
	if err != nil {
		return nil, err
	}
	s.chain = secureBootChain(cfg, log) // files.go
	if s.files, err = serveFiles(cfg, builds, targets, s.chain, log); err != nil {
		return nil, err
	}
	if s.store, err = OpenStore(cfg, log); err != nil { // store.go
		return nil, err
	}
	tokens, err := s.loadTokens(cfg) // cluster.go
	if err != nil {
		return nil, err
	}
	registry := &machines.Registry{Store: s.store}
	sightings := new(boot.Sightings)
	s.timeline = observe.New(observe.Options{Log: log, Version: version.Version, Sightings: sightings, Files: s.files, Registry: registry,
		Targets: target.TimelineOf(targets)})
	s.timeline.Metrics.FilesRefused(s.files.Refused)
	if err = s.shareTimeline(cfg); err != nil { // timeline.go
		return nil, err
	}
	s.storeMetrics()                                                                            // storemetrics.go
	importer := platforms(context.Background(), cfg, s.store, log)                              // platforms.go
	s.menu, err = newMenu(cfg, log, memtest, targets, registry, s.store, s.timeline.MenuServed) // menu.go
	if err != nil {
		return nil, err
	}
	if s.leases, s.dhcpNets, err = openLeases(cfg, s.store, iface, adv, s.leaseShare, log); err != nil { // dhcp.go
		return nil, err
	}
	s.leaseMetrics() // dhcp.go

	if s.bmc, err = s.bmcOperator(cfg, registry); err != nil { // bmc.go
		return nil, err
	}

	if err := s.protocols(cfg, iface, adv, builds, sightings, s.api(cfg, tokens, registry, importer)); err != nil { // protocols.go
		return nil, err
	}
	s.routerAdverts(iface, sightings)                         // ra.go
	if err := s.joinCluster(cfg, adv, importer); err != nil { // cluster.go
		return nil, err
	}
	return s, nil
}

// Handler is what the HTTP server serves: menu, files, API, dashboard,
// metrics (and /healthz).
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves DHCP, TFTP and HTTP until ctx ends or one of them fails; a
// failure stops the others. While it runs, <data-dir>/serve.json tells
// the CLI where the API is.
func (s *Server) Run(ctx context.Context) error {
	unannounce, err := api.Announce(s.cfg.DataDir, s.httpLn.Addr())
	if err != nil {
		return err
	}
	defer unannounce()
	s.log.Info("rackboot serving", s.started...)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.runDHCP(ctx) })
	g.Go(func() error { return s.tftp.ListenAndServe(ctx, s.cfg.TFTPAddr) })
	g.Go(func() error { return s.runHTTP(ctx) })
	g.Go(func() error { return s.runCluster(ctx) }) // cluster.go
	g.Go(func() error { return s.runRA(ctx) })      // ra.go

	g.Go(func() error { return s.runSilenceWatch(ctx) }) // bmc.go
	if err := g.Wait(); err != nil {
		return err
	}
	s.log.Info("rackboot stopped")
	return nil
}

func (s *Server) runDHCP(ctx context.Context) error {
	err := s.dhcp(ctx)
	if errors.Is(err, dhcp.ErrAddrInUse) && s.cfg.DHCP.Mode == config.DHCPOff {
		// Off mode only listens; a DHCP server on this host holding
		// port 67 costs us the loop breaker, not the service.
		s.log.Warn("cannot watch DHCP broadcasts: port 67 is held by another program; "+
			"iPXE chainload loops will not be broken", "err", err)
		return nil
	}
	return err
}

func (s *Server) runHTTP(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.stopOnce.Do(func() { close(s.stopping) }) // live event streams end first
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.http.Shutdown(shut)
	}()
	if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// Close releases what New opened, writers first: the boot timeline's
// recorder and the lease manager finish their writes before the store
// closes. Call it once, after Run has returned (or instead of Run).
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stopping) })
	if s.httpLn != nil {
		s.httpLn.Close() // Run was not called, or has closed it already
	}
	if s.timeline != nil {
		s.timeline.Close()
	}
	s.closeTimeline() // timeline.go
	if s.leases != nil {
		s.leases.Close()
	}
	s.leaveCluster() // cluster.go
	if s.ra != nil {
		s.ra.Close() // ra.go: Run was not called
	}
	var err error
	if s.store != nil {
		err = s.store.Close()
	}
	if s.files != nil {
		s.files.Close()
	}
	return err
}
