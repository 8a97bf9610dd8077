package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
)

// mountPlatforms sets up the platform catalog for serve: leftovers of an
// import that crashed are removed, builds copied into the data directory by
// hand join the catalog, the menu reads its default build from the catalog,
// and /api/v1/platforms serves it (the CLI's way in while serve holds the
// store). Failures here are logged: the builds on disk still boot.
func (s *services) mountPlatforms(ctx context.Context, env *bootEnv, log *slog.Logger) {
	log = log.With("svc", "platforms")
	dataDir := env.cfg.DataDir
	if removed, err := smartos.CleanLeftovers(dataDir); err != nil {
		log.Warn("cannot remove what an interrupted import left", "err", err)
	} else if len(removed) > 0 {
		log.Info("removed what interrupted imports left", "dirs", removed)
	}
	im := &smartos.Importer{DataDir: dataDir, Store: s.store, Mirror: env.cfg.SmartOS.Mirror, Logger: log}
	if added, err := im.ReconcileCatalog(ctx); err != nil {
		log.Warn("cannot add the builds found on disk to the catalog", "err", err)
	} else {
		for _, e := range added {
			log.Info("build found on disk joins the catalog", "build", e.Build)
		}
	}
	st := s.store
	env.menu.CatalogDefault = func() string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b, err := smartos.DefaultBuild(ctx, st)
		if err != nil {
			log.Warn("cannot read the default platform; the menu boots the newest", "err", err)
		}
		return b
	}
	(&api.Platforms{Importer: im, Boots: bootCounts(st)}).Register(s.api)
}

// catalogDefault is the catalog's default build for `rackboot menu`: asked
// of the running server if there is one, else read from the store. Any
// failure gives "" (the newest build), as it would in serve.
func catalogDefault(ctx context.Context, dataDir string) func() string {
	return func() string {
		if info, ok := findServer(ctx, dataDir); ok {
			list, err := (&api.Client{Base: info.APIURL, Token: readToken("", dataDir)}).Platforms(ctx)
			if err != nil {
				return ""
			}
			for _, p := range list {
				if p.Default {
					return p.Build
				}
			}
			return ""
		}
		if _, err := os.Stat(filepath.Join(dataDir, boltstore.FileName)); err != nil {
			return "" // no catalog yet; do not make one just to print a menu
		}
		st, err := boltstore.Open(dataDir, boltstore.Options{Timeout: time.Second})
		if err != nil {
			return ""
		}
		defer st.Close()
		b, _ := smartos.DefaultBuild(ctx, st)
		return b
	}
}
