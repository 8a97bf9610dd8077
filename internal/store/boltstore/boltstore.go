// Package boltstore is the default store.Store: one bbolt file,
// <data-dir>/rackboot.db, fsynced on every commit.
//
// Layout: bucket "kv" maps a key to an 8-byte big-endian revision followed by
// the value; bucket "meta" holds the store's current revision under "rev".
// Writers are serialized (bbolt allows one writer at a time), and watch
// events are published in process after each commit, in revision order.
package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"rackboot/internal/store"
)

// FileName is the database's name inside the data dir.
const FileName = "rackboot.db"

// PidFileName records which process holds the database, so that a second
// rackboot can say who is in the way.
const PidFileName = FileName + ".pid"

var (
	bucketKV   = []byte("kv")
	bucketMeta = []byte("meta")
	keyRev     = []byte("rev")
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process.
	// Zero means 2 seconds.
	Timeout time.Duration
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Store is a store.Store backed by one bbolt file.
type Store struct {
	db      *bbolt.DB
	dataDir string
	log     *slog.Logger

	mu      sync.RWMutex // guards closed; held for reading by every operation
	closed  bool
	writeMu sync.Mutex // orders commit and publish, so watchers see revision order
	hub     hub
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) <dataDir>/rackboot.db. If another process
// holds the file, Open fails after opt.Timeout with an error naming it.
func Open(dataDir string, opt Options) (*Store, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("open store: create data dir: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	// NoSync stays false: every commit is fsynced before Update returns.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opt.Timeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: data dir in use by another rackboot (%s); "+
			"stop it or give this one another data dir", path, holder(dataDir))
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketKV, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := writePID(dataDir); err != nil {
		log.Warn("store: cannot record pid", "err", err)
	}
	s := &Store{db: db, dataDir: dataDir, log: log}
	s.hub.init()
	log.Debug("store opened", "file", path)
	return s, nil
}

// holder describes the process named in the pid file, or says it is unknown.
func holder(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, PidFileName))
	if err != nil {
		return "pid unknown"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "pid unknown"
	}
	return "pid " + strconv.Itoa(pid)
}

// writePID records this process as the holder, atomically.
func writePID(dataDir string) error {
	tmp := filepath.Join(dataDir, PidFileName+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, PidFileName))
}

// Path is the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// Close closes the database and every watch channel.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.hub.close()
	if holder(s.dataDir) == "pid "+strconv.Itoa(os.Getpid()) {
		os.Remove(filepath.Join(s.dataDir, PidFileName))
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	var kv store.KV
	err := s.view(ctx, func(t *tx) error {
		var err error
		kv, err = t.Get(key)
		return err
	})
	return kv, err
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	var kvs []store.KV
	err := s.view(ctx, func(t *tx) error {
		var err error
		kvs, err = t.List(prefix)
		return err
	})
	return kvs, err
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	return s.update(ctx, func(t store.Tx) error { return t.Put(key, value) })
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.update(ctx, func(t store.Tx) error { return t.Delete(key) })
	return err
}

// Txn implements store.Store: fn runs once, inside one bbolt Update.
func (s *Store) Txn(ctx context.Context, fn func(store.Tx) error) error {
	_, err := s.update(ctx, fn)
	return err
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, prefix string) <-chan store.Event {
	return s.hub.watch(ctx, prefix)
}

func (s *Store) view(ctx context.Context, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(func(btx *bbolt.Tx) error { return fn(&tx{btx: btx}) })
}

// update runs fn in one write transaction and returns the revision it
// committed (the current one when fn wrote nothing).
func (s *Store) update(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var t *tx
	err := s.db.Update(func(btx *bbolt.Tx) error {
		t = &tx{btx: btx, writable: true, rev: readRev(btx) + 1}
		if err := fn(t); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(t.events) == 0 {
			return nil
		}
		return btx.Bucket(bucketMeta).Put(keyRev, encodeRev(t.rev))
	})
	if err != nil {
		return 0, err
	}
	if len(t.events) == 0 {
		return t.rev - 1, nil
	}
	s.hub.publish(t.events)
	return t.rev, nil
}

func readRev(btx *bbolt.Tx) int64 {
	b := btx.Bucket(bucketMeta).Get(keyRev)
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func encodeRev(rev int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(rev))
}
