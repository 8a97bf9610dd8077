package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/menu"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
)

// Menu is the renderer `rackboot menu` prints with, beside a serve or
// without one: the configuration's menu, the same for every machine (no
// registry), and the catalog's default build asked of the running serve,
// else read from the store.
func Menu(ctx context.Context, cfg config.Config) (*menu.Renderer, error) {
	log := slog.New(slog.DiscardHandler)
	_, memtest := findBuilds(cfg, log)
	targets, err := Targets(cfg)
	if err != nil {
		return nil, err
	}
	opts, err := MenuOptions(cfg, log, memtest, targets)
	if err != nil {
		return nil, err
	}
	opts.CatalogDefault = catalogDefault(ctx, cfg)
	return &menu.Renderer{Options: opts}, nil
}

// catalogDefault is the catalog's default build, asked of the running
// server if there is one, else read from the store. Any failure gives ""
// (the newest build), as it would in serve.
func catalogDefault(ctx context.Context, cfg config.Config) func() string {
	return func() string {
		if info, ok := api.FindServer(ctx, cfg.DataDir); ok {
			list, err := (&api.Client{Base: info.APIURL, Token: api.ReadToken("", cfg.DataDir)}).Platforms(ctx)
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
		if _, err := os.Stat(filepath.Join(cfg.DataDir, boltstore.FileName)); err != nil && cfg.Store.BackendName() == config.BackendBolt {
			return "" // no catalog yet; do not make one just to print a menu
		}
		st, err := OpenStore(cfg, nil)
		if err != nil {
			return ""
		}
		defer st.Close()
		b, _ := smartos.DefaultBuild(ctx, st)
		return b
	}
}
