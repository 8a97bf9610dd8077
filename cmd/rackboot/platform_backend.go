package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/server"
	"rackboot/internal/smartos"
)

// platformBackend is where the platform commands do their work: the running
// server's API, or the store and data directory themselves. Both give the
// same answers, so the commands print the same either way.
type platformBackend interface {
	List(ctx context.Context) ([]api.Platform, error)
	Get(ctx context.Context, build string) (api.Platform, error)
	Import(ctx context.Context, req api.ImportRequest, progress func(smartos.ProgressEvent)) (smartos.CatalogEntry, error)
	SetDefault(ctx context.Context, build string) error
	SetPinned(ctx context.Context, build string, pinned bool) error
	Remove(ctx context.Context, build string, force bool) error
	Prune(ctx context.Context, keep int) ([]string, error)
	Close() error
}

// localPlatforms works on the store and the data directory directly.
type localPlatforms struct {
	*api.Platforms
	close func() error
}

func (l localPlatforms) Close() error { return l.close() }

// backendOptions say how to reach the platforms.
type backendOptions struct {
	dataDir string
	store   config.Store // the configuration's store (bolt in dataDir, or etcd)
	mirror  string       // for imports of "latest" done here
	server  string       // --server: always use this server's API
	token   string       // --token
	log     *slog.Logger
}

// openPlatforms picks the backend: --server if given; else the server that
// serve.json in the data directory names, if it is alive; else the store,
// opened here (which waits a little for a lock held by another process).
// where says which, for the user.
func openPlatforms(ctx context.Context, o backendOptions) (b platformBackend, where string, err error) {
	if c, where, found := api.Discover(ctx, o.dataDir, o.server, o.token, ""); found {
		return api.RemotePlatforms{Client: c}, where, nil
	}
	cfg := config.Default()
	cfg.DataDir, cfg.Store = o.dataDir, o.store
	st, err := server.OpenStore(cfg, o.log)
	if err != nil {
		return nil, "", storeHeld(err, o.dataDir)
	}
	im := &smartos.Importer{DataDir: o.dataDir, Store: st, Mirror: o.mirror, Logger: o.log}
	// This process holds the store, so no import runs elsewhere on this data
	// directory: leftovers of a crash can go, hand-copied builds come in.
	if _, err := smartos.CleanLeftovers(o.dataDir); err != nil {
		o.log.Warn("cleaning up after an interrupted import", "err", err)
	}
	if _, err := im.ReconcileCatalog(ctx); err != nil {
		st.Close()
		return nil, "", err
	}
	p := &api.Platforms{Importer: im, Boots: server.BootCounts(st)}
	return localPlatforms{Platforms: p, close: st.Close}, storeName(cfg), nil
}

// storeHeld explains a store that would not open: most often, a serve
// holds it.
func storeHeld(err error, dataDir string) error {
	return fmt.Errorf("%w\n(if rackboot serve runs on this data directory, it names its API in %s/%s; "+
		"or pass --server http://host:port)", err, dataDir, api.ServeFile)
}

// userError unwraps an API error to its message: the CLI prints what the
// server said, not the HTTP status.
func userError(err error) error {
	var e *api.Error
	if errors.As(err, &e) {
		return errors.New(e.Message)
	}
	return err
}
