package server

import (
	"log/slog"
	"time"

	"rackboot/internal/config"
	"rackboot/internal/store"
	"rackboot/internal/store/boltstore"
)

// OpenStore opens the store everything stateful lives in, for serve and
// for the commands that work without it. It is the one place the backend
// is chosen: bolt (<data-dir>/rackboot.db) today; cfg.Store.Backend
// (internal/config/store.go) will pick etcd here. log may be nil.
func OpenStore(cfg config.Config, log *slog.Logger) (store.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := boltstore.Open(cfg.DataDir, boltstore.Options{Timeout: 3 * time.Second, Logger: log.With("svc", "store")})
	if err != nil {
		return nil, err // a nil *boltstore.Store must not become a non-nil store.Store
	}
	return st, nil
}
