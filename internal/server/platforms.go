package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"rackboot/internal/config"
	"rackboot/internal/machines"
	"rackboot/internal/smartos"
	"rackboot/internal/store"
)

// platforms sets up the platform catalog for serve: leftovers of an import
// that crashed are removed and builds copied into the data directory by
// hand join the catalog. Failures here are logged: the builds on disk
// still boot. The importer serves /api/v1/platforms (the CLI's way in
// while serve holds the store).
func platforms(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) *smartos.Importer {
	log = log.With("svc", "platforms")
	if removed, err := smartos.CleanLeftovers(cfg.DataDir); err != nil {
		log.Warn("cannot remove what an interrupted import left", "err", err)
	} else if len(removed) > 0 {
		log.Info("removed what interrupted imports left", "dirs", removed)
	}
	im := &smartos.Importer{DataDir: cfg.DataDir, Store: st, Mirror: cfg.SmartOS.Mirror, Logger: log}
	if added, err := im.ReconcileCatalog(ctx); err != nil {
		log.Warn("cannot add the builds found on disk to the catalog", "err", err)
	} else {
		for _, e := range added {
			log.Info("build found on disk joins the catalog", "build", e.Build)
		}
	}
	return im
}

// bootCounts counts, per build, the boots since a time that fetched the
// build's kernel, from the boots the machines registry keeps (each
// machine's last machines.KeepBoots).
func bootCounts(reg *machines.Registry) func(context.Context, time.Time) (map[string]int, error) {
	return func(ctx context.Context, since time.Time) (map[string]int, error) {
		ms, err := reg.List(ctx)
		if err != nil {
			return nil, err
		}
		counts := map[string]int{}
		for _, m := range ms {
			for _, b := range m.Boots {
				if build := kernelBuild(b.Kernel); build != "" && !b.Started.Before(since) {
					counts[build]++
				}
			}
		}
		return counts, nil
	}
}

// BootCounts is bootCounts for a store the caller holds (the platform
// commands without a running serve).
func BootCounts(st store.Store) func(context.Context, time.Time) (map[string]int, error) {
	return bootCounts(&machines.Registry{Store: st})
}

// kernelBuild returns the build of a SmartOS kernel path
// ("smartos/<build>/platform/i86pc/kernel/amd64/unix"), or "".
func kernelBuild(p string) string {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(p, "/"), smartos.PlatformsSubdir+"/")
	if !ok {
		return ""
	}
	build, file, ok := strings.Cut(rest, "/")
	if !ok || file != smartos.KernelFile {
		return ""
	}
	return build
}
