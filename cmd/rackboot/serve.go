package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"rackboot/internal/config"
	"rackboot/internal/privilege"
	"rackboot/internal/server"
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

On SIGHUP (systemctl reload rackboot) serve re-reads the configuration: the
menu, smartos (but mirror), the machine rules (but their bmc defaults, and
which machines a rule with bmc defaults matches) and log_level change at
once; the log names the changed keys that need a restart.

` + config.Reference,
		Example: `  rackboot serve --interface eth1
  rackboot serve --config /etc/rackboot.yaml --dhcp-mode off`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, func() (config.Config, error) { return f.load(cmd) })
		},
	}
	f.register(cmd.Flags())
	f.registerName(cmd.Flags())
	return cmd
}

// serve runs the server cfg describes until ctx ends. On SIGHUP
// (systemctl reload) it loads the configuration again with reload and
// applies what can change while serving (server.Reload).
func serve(ctx context.Context, cfg config.Config, reload func() (config.Config, error)) error {
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if privilege.IsRoot() {
		log.Warn(privilege.RootAdvice())
	}
	// From the start: a SIGHUP's default action would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	srv, err := server.New(cfg, log, server.WithLogLevel(level))
	if err != nil {
		return err
	}
	defer srv.Close()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadConfig(srv, reload, log)
			}
		}
	}()
	return srv.Run(ctx)
}

// reloadConfig is one SIGHUP: a configuration that does not load or
// validate changes nothing.
func reloadConfig(srv *server.Server, reload func() (config.Config, error), log *slog.Logger) {
	cfg, err := reload()
	if err == nil {
		var r server.Reloaded
		if r, err = srv.Reload(cfg); err == nil {
			log.Info("configuration reloaded", "applied", r.Applied)
			if len(r.Restart) > 0 {
				log.Warn("changed keys that take effect only when rackboot restarts", "keys", r.Restart)
			}
			return
		}
	}
	log.Error("configuration not reloaded: the running configuration stays", "err", err)
}
