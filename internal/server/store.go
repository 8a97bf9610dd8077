package server

import (
	"context"
	"log/slog"
	"time"

	"rackboot/internal/config"
	"rackboot/internal/store"
	"rackboot/internal/store/boltstore"
	"rackboot/internal/store/etcdstore"
)

// OpenStore opens the store everything stateful lives in, for serve and
// for the commands that work without it. It is the one place the backend
// is chosen (cfg.Store.Backend, internal/config/store.go): bolt,
// <data-dir>/rackboot.db, one process at a time; or etcd, shared by every
// server configured with the same endpoints and prefix. log may be nil.
func OpenStore(cfg config.Config, log *slog.Logger) (store.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("svc", "store")
	if cfg.Store.BackendName() == config.BackendEtcd {
		e := cfg.Store.Etcd
		st, err := etcdstore.Open(context.Background(), etcdstore.Options{
			Endpoints: e.Endpoints, Prefix: cfg.Store.EtcdPrefix(),
			CertFile: e.CertFile, KeyFile: e.KeyFile, CAFile: e.CAFile,
			Username: e.Username, Password: e.Password,
			DialTimeout: time.Duration(e.DialTimeout), RequestTimeout: time.Duration(e.RequestTimeout),
			Logger: log,
		})
		if err != nil {
			return nil, err // a nil *etcdstore.Store must not become a non-nil store.Store
		}
		return st, nil
	}
	st, err := boltstore.Open(cfg.DataDir, boltstore.Options{Timeout: 3 * time.Second, Logger: log})
	if err != nil {
		return nil, err // a nil *boltstore.Store must not become a non-nil store.Store
	}
	return st, nil
}
