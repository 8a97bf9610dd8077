package etcdstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"rackboot/internal/store"
)

// DefaultMaxTxnOps is etcd's default limit on the operations, and on the
// compares, of one transaction (the server's --max-txn-ops).
const DefaultMaxTxnOps = 128

// ErrUnavailable is wrapped by the errors of requests that etcd did not
// answer: the cluster has no quorum, or no member could be reached.
var ErrUnavailable = errors.New("etcd unavailable")

// ErrTxnTooLarge is wrapped by the error of a Txn with more writes, or more
// compares, than etcd allows in one transaction.
var ErrTxnTooLarge = errors.New("transaction too large for etcd")

// Options configure Open. Endpoints is required; the rest has defaults.
type Options struct {
	// Endpoints are the members' client URLs (http://host:2379, https://...).
	Endpoints []string
	// Prefix is put before every key; it is empty or ends with "/".
	Prefix string
	// CertFile and KeyFile are this client's TLS certificate, CAFile the
	// authority that signed the members' certificates. Any of them turns
	// TLS on; without CAFile the system's roots are used.
	CertFile, KeyFile, CAFile string
	// Username and Password, when etcd's authentication is on.
	Username, Password string
	// DialTimeout bounds Open's first contact with the cluster. Default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds every request to etcd (each read, each write,
	// each try of a Txn's commit). Default 5s.
	RequestTimeout time.Duration
	// MaxTxnOps is the server's --max-txn-ops. Default DefaultMaxTxnOps.
	MaxTxnOps int
	// Logger receives the store's and the etcd client's messages; nil
	// discards them.
	Logger *slog.Logger
}

// Stats count what the metrics want to know. Every field only grows.
type Stats struct {
	// UnavailableReads and UnavailableWrites count requests that failed
	// with ErrUnavailable (no quorum, or no member reachable).
	UnavailableReads, UnavailableWrites uint64
	// TxnConflicts counts Txn commits that lost to another writer and ran
	// their function again.
	TxnConflicts uint64
	// WatchRestarts counts watches set up again after a member, leader or
	// connection failure.
	WatchRestarts uint64
	// WatchesLost counts watches closed because etcd had compacted the
	// revisions they still had to deliver.
	WatchesLost uint64
}

// Store is a store.Store on etcd.
type Store struct {
	cli       *clientv3.Client
	prefix    string
	endpoints string        // for messages
	timeout   time.Duration // of a request, retries included
	attempt   time.Duration // of one try
	maxOps    int
	log       *slog.Logger

	mu     sync.RWMutex // guards closed; held for reading by every request
	closed bool
	done   context.Context // canceled by Close: ends the watches
	cancel context.CancelFunc

	lastRev atomic.Int64 // the highest revision seen in any answer

	unavailReads, unavailWrites, conflicts, watchRestarts, watchesLost atomic.Uint64
	downUntil                                                          atomic.Int64 // unix ns; see failfast.go
}

var _ store.Store = (*Store)(nil)

// Open connects to the cluster and checks that it answers (a read that needs
// a quorum), so that a wrong endpoint or a cluster without quorum is reported
// at start.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if len(opt.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints: set store.etcd.endpoints to the members' client URLs")
	}
	if opt.Prefix != "" && !strings.HasSuffix(opt.Prefix, "/") {
		return nil, fmt.Errorf("etcd store: prefix %q must end with / (so that one site's keys never match another's)", opt.Prefix)
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 5 * time.Second
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 5 * time.Second
	}
	if opt.MaxTxnOps <= 0 {
		opt.MaxTxnOps = DefaultMaxTxnOps
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	eps := strings.Join(opt.Endpoints, ",")
	tlsConf, err := clientTLS(opt)
	if err != nil {
		return nil, fmt.Errorf("etcd store: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opt.Endpoints,
		DialTimeout: opt.DialTimeout,
		// Keepalives find a member that vanished without closing its
		// connections (a partition, a powered-off host).
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		PermitWithoutStream:  true,
		TLS:                  tlsConf,
		Username:             opt.Username,
		Password:             opt.Password,
		Logger:               newZapLogger(log.With("component", "etcd-client")),
		Context:              context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd store at %s: %w (check store.etcd.endpoints and the TLS and auth settings)", eps, err)
	}
	done, cancel := context.WithCancel(context.Background())
	s := &Store{
		cli: cli, prefix: opt.Prefix, endpoints: eps,
		timeout: opt.RequestTimeout, attempt: attemptTimeout(opt.RequestTimeout), maxOps: opt.MaxTxnOps, log: log,
		done: done, cancel: cancel,
	}
	cctx, ccancel := context.WithTimeout(ctx, opt.DialTimeout)
	defer ccancel()
	resp, err := cli.Get(cctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		cancel()
		cli.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("etcd store at %s: %w", eps, ctx.Err())
		}
		return nil, s.describe("connect", s.prefix, err, opt.DialTimeout)
	}
	s.seen(resp.Header.Revision)
	log.Debug("etcd store opened", "endpoints", eps, "prefix", s.prefix, "revision", resp.Header.Revision)
	return s, nil
}

// attemptTimeout is how long one try of a request may take: a fifth of the
// request's timeout, at least a second. A write sent to a follower just as
// the leader dies waits for etcd's own timeout (7 s with the default election
// timeout); a try that gives up sooner leaves time for another once a new
// leader is elected.
func attemptTimeout(request time.Duration) time.Duration {
	return min(request, max(request/5, time.Second))
}

// clientTLS builds the client's TLS configuration, or nil for plain HTTP.
func clientTLS(opt Options) (*tls.Config, error) {
	https := false
	for _, ep := range opt.Endpoints {
		https = https || strings.HasPrefix(ep, "https://")
	}
	if !https && opt.CertFile == "" && opt.CAFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if (opt.CertFile == "") != (opt.KeyFile == "") {
		return nil, errors.New("TLS: set cert_file and key_file together")
	}
	if opt.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(opt.CertFile, opt.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate (cert_file, key_file): %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	if opt.CAFile != "" {
		pem, err := os.ReadFile(opt.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS ca_file %s: no PEM certificate in it", opt.CAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// MaxTxnOps is the most writes (and the most keys read) one Txn may have;
// callers that batch writes keep each batch within it.
func (s *Store) MaxTxnOps() int { return s.maxOps }

// Prefix is the etcd key prefix of this store's keys.
func (s *Store) Prefix() string { return s.prefix }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{
		UnavailableReads:  s.unavailReads.Load(),
		UnavailableWrites: s.unavailWrites.Load(),
		TxnConflicts:      s.conflicts.Load(),
		WatchRestarts:     s.watchRestarts.Load(),
		WatchesLost:       s.watchesLost.Load(),
	}
}

// Client is the etcd client, for what the Store interface does not cover
// (leases for server registration).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close ends the watches and closes the client.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd store: %w", err)
	}
	return nil
}

// seen records a revision from an answer's header.
func (s *Store) seen(rev int64) {
	for cur := s.lastRev.Load(); rev > cur && !s.lastRev.CompareAndSwap(cur, rev); cur = s.lastRev.Load() {
	}
}

// begin checks ctx and the store before a request; end must be called after.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) end() { s.mu.RUnlock() }

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.ValidKey(key); err != nil {
		return store.KV{}, fmt.Errorf("get: %w", err)
	}
	if err := s.begin(ctx); err != nil {
		return store.KV{}, err
	}
	defer s.end()
	resp, err := s.get(ctx, "get", key, s.prefix+key)
	if err != nil {
		return store.KV{}, err
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return s.kv(resp.Kvs[0].Key, resp.Kvs[0].Value, resp.Kvs[0].ModRevision), nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	resp, err := s.get(ctx, "list", prefix, s.prefix+prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	return s.kvs(resp), nil
}

// get is one read, retried while etcd says it was not served.
func (s *Store) get(ctx context.Context, op, key, full string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	var resp *clientv3.GetResponse
	err := s.request(ctx, op, key, false, func(rctx context.Context) error {
		var err error
		resp, err = s.cli.Get(rctx, full, opts...)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	s.seen(resp.Header.Revision)
	return resp, nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if err := store.ValidKey(key); err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.end()
	full, after := s.prefix+key, s.lastRev.Load()
	var rev int64
	err := s.request(ctx, "put", key, true, func(rctx context.Context) error {
		resp, err := s.cli.Put(rctx, full, string(value))
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	}, func(rctx context.Context) (bool, error) {
		resp, err := s.cli.Get(rctx, full)
		if err != nil {
			return false, err
		}
		if len(resp.Kvs) == 1 && bytes.Equal(resp.Kvs[0].Value, value) && resp.Kvs[0].ModRevision > after {
			rev = resp.Kvs[0].ModRevision
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	s.seen(rev)
	return rev, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	full := s.prefix + key
	return s.request(ctx, "delete", key, true, func(rctx context.Context) error {
		resp, err := s.cli.Delete(rctx, full)
		if err == nil {
			s.seen(resp.Header.Revision)
		}
		return err
	}, func(rctx context.Context) (bool, error) {
		resp, err := s.cli.Get(rctx, full, clientv3.WithCountOnly())
		return err == nil && resp.Count == 0, err
	})
}

// kv turns an etcd key-value into the store's, the prefix stripped.
func (s *Store) kv(key, value []byte, rev int64) store.KV {
	if value == nil {
		value = []byte{}
	}
	return store.KV{Key: string(key[len(s.prefix):]), Value: value, Revision: rev}
}

func (s *Store) kvs(resp *clientv3.GetResponse) []store.KV {
	if len(resp.Kvs) == 0 {
		return nil
	}
	out := make([]store.KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = s.kv(kv.Key, kv.Value, kv.ModRevision)
	}
	return out
}
