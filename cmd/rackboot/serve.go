package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/boot"
	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/firmware"
	"rackboot/internal/httpd"
	"rackboot/internal/metrics"
	"rackboot/internal/tftp"
	dashboard "rackboot/web"
)

func serveCommand() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer PXE clients (proxyDHCP), serve iPXE over TFTP and the menu and platforms over HTTP",
		Long: `serve runs the whole boot chain in one process:

  proxyDHCP (UDP 67 and 4011)  tells PXE firmware which iPXE build to load and tells
                               iPXE the URL of its menu; it never hands out addresses,
                               so it works beside the network's own DHCP server
  TFTP (UDP 69)                the iPXE builds (undionly.kpxe, snponly.efi, ...), the
                               platforms and <data-dir>/public/, read-only; never the
                               rest of the data directory (token, store)
  HTTP (--http-addr)           /boot.ipxe, the menu generated from the platforms in
                               <data-dir>/smartos/<build>/platform/, and the files

With --dhcp-mode off rackboot answers no DHCP at all, for networks whose DHCP
server already sends every client to rackboot for undionly.kpxe or snponly.efi:
it still watches the DHCP broadcasts, and gives a client that already runs
iPXE a script that chains to its menu instead of iPXE again, so there is no loop.

` + configKeys,
		Example: `  rackboot serve --interface eth1
  rackboot serve --config /etc/rackboot.yaml --dhcp-mode off`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func serve(ctx context.Context, cfg config.Config) error {
	log := newLogger(cfg.LogLevel)
	iface, adv, err := bootNetwork(cfg)
	if err != nil {
		return err
	}
	env, err := newBootEnv(cfg, log)
	if err != nil {
		return err
	}
	defer env.Close()

	rawLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	httpLn := httpd.LimitListener(rawLn, cfg.HTTP.MaxConnections, cfg.HTTP.MaxConnectionsPerClient, log.With("svc", "http"))
	bootCfg := boot.Config{
		ServerIP:    adv,
		HTTPBase:    httpBase(adv, httpLn.Addr()),
		HasFile:     env.builds.Has,
		FirmwareDir: strings.Join(firmware.SearchPath(cfg.IPXEDir), " or "),
	}
	if err := env.checkMenu(bootCfg.HTTPBase); err != nil {
		return err
	}
	sightings := new(boot.Sightings)
	mach, err := newMachineServices(cfg, log, sightings, env.files) // machines_serve.go
	if err != nil {
		return err
	}
	env.machines = mach
	mach.metrics.FilesRefused(env.files.Refused)
	steps := bootLog{log: log.With("svc", "boot"), sightings: sightings, machines: mach}
	tftpSrv := &tftp.Server{
		Root:       env.files,
		Override:   boot.LoopBreaker(sightings, bootCfg),
		Logger:     log.With("svc", "tftp"),
		OnTransfer: steps.tftp,

		MaxTransfers:          cfg.TFTP.MaxTransfers,
		MaxTransfersPerClient: cfg.TFTP.MaxTransfersPerClient,
	}
	dhcpSrv := &dhcp.ProxyServer{
		Interface: iface,
		ServerIP:  adv,
		Mode:      dhcpMode(cfg.DHCP.Mode),
		Decide:    bootCfg.Decide,
		Sightings: sightings,
		Logger:    log.With("svc", "dhcp"),
		OnEvent:   mach.dhcp,
	}
	svc, err := openServices(ctx, env, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	dhcpServe, err := svc.dhcpServer(ctx, dhcpSrv, cfg, log) // dhcp.mode full: leases_serve.go
	if err != nil {
		return err
	}
	svc.leaseMetrics(mach.metrics) // dhcp.mode full only: leases_serve.go
	// What the flood caps did (DESIGN: what bounds each protocol under a flood).
	mach.metrics.Limits(func() metrics.LimitFigures {
		t, h := tftpSrv.Stats(), httpLn.Stats()
		return metrics.LimitFigures{TFTPRefused: t.Refused, TFTPShed: t.Shed, TFTPActive: t.Active,
			HTTPRefused: h.Refused, HTTPOpen: int64(h.Open)}
	})

	unannounce, err := announceServe(cfg.DataDir, httpLn.Addr()) // serve.json: how the CLI finds us (platform_server.go)
	if err != nil {
		return err
	}
	defer unannounce()
	web := &httpd.Server{
		Files:  env.files,
		Menu:   env.renderMenu,
		Logger: log.With("svc", "http"),
		OnFile: steps.http,
		API:    svc.api,

		OnProgress: mach.httpProgress,
		Dashboard:  dashboard.Handler(),
		Metrics:    mach.metrics.Handler(),
	}
	httpSrv := web.HTTPServer() // timeouts and header cap; connections capped by httpLn

	log.Info("rackboot serving", "version", version, "interface", iface, "advertise", adv,
		"dhcp", cfg.DHCP.Mode, "tftp", cfg.TFTPAddr, "http", httpLn.Addr().String(),
		"menu", bootCfg.HTTPBase+"/boot.ipxe", "data_dir", cfg.DataDir, "ipxe", env.builds.Names())

	return runAll(ctx, log,
		func(ctx context.Context) error {
			err := dhcpServe(ctx)
			if errors.Is(err, dhcp.ErrAddrInUse) && dhcpSrv.Mode == dhcp.ModeOff {
				// Off mode only listens; a DHCP server on this host holding
				// port 67 costs us the loop breaker, not the service.
				log.Warn("cannot watch DHCP broadcasts: port 67 is held by another program; "+
					"iPXE chainload loops will not be broken", "err", err)
				return nil
			}
			return err
		},
		func(ctx context.Context) error { return tftpSrv.ListenAndServe(ctx, cfg.TFTPAddr) },
		func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				httpSrv.Shutdown(shut)
			}()
			if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		},
	)
}

// runAll runs the services until ctx ends or one fails; a failure stops the rest.
func runAll(ctx context.Context, log *slog.Logger, services ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc(ctx); err != nil {
				once.Do(func() { first = err })
				cancel()
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	if first == nil {
		log.Info("rackboot stopped")
	}
	return first
}

// bootNetwork resolves the interface and the address clients reach us on:
// each can be derived from the other.
func bootNetwork(cfg config.Config) (string, netip.Addr, error) {
	switch {
	case cfg.Interface != "" && cfg.Advertise != "":
		return cfg.Interface, netip.MustParseAddr(cfg.Advertise), nil
	case cfg.Interface != "":
		ip, err := interfaceIPv4(cfg.Interface)
		return cfg.Interface, ip, err
	case cfg.Advertise != "":
		ip := netip.MustParseAddr(cfg.Advertise)
		name, err := interfaceWith(ip)
		if err != nil {
			return "", ip, fmt.Errorf("advertise %s: %w; name the boot network with --interface", ip, err)
		}
		return name, ip, nil
	}
	// Nothing said: never guess, not even on a host with one network, since
	// answering PXE on the wrong network reinstalls someone else's machines.
	cands := bootCandidates()
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.name + " (" + c.ip.String() + ")"
	}
	return "", netip.Addr{}, fmt.Errorf("say which network the machines boot on: --interface NAME (or interface: in --config); "+
		"candidates: %s", strings.Join(names, ", "))
}

// httpBase is the URL prefix clients use to reach the HTTP server.
func httpBase(adv netip.Addr, ln net.Addr) string {
	port := ln.(*net.TCPAddr).Port
	if port == 80 {
		return "http://" + adv.String()
	}
	return fmt.Sprintf("http://%s:%d", adv, port)
}

func dhcpMode(s string) dhcp.Mode {
	if s == config.DHCPOff {
		return dhcp.ModeOff
	}
	return dhcp.ModeProxy
}
