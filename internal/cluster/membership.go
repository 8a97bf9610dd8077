package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Options tune Join. The zero value is usable.
type Options struct {
	// TTL of the registration's lease: how long after a server's death its
	// record goes. Default 10s; etcd rounds it to whole seconds (at least 1).
	TTL time.Duration
	// Refresh is how often the list is read again from etcd (besides the
	// watch): it finds a silent etcd (marked stale) and repairs the list.
	// Default TTL/3.
	Refresh time.Duration
	// RequestTimeout bounds each request to etcd. Default 5s.
	RequestTimeout time.Duration
	// HealthInterval, when set, makes the membership ask every alive
	// member's HTTPURL/healthz that often (Status.Health).
	HealthInterval time.Duration
	// HTTPClient for the health checks; nil: a client with a 2s timeout.
	HTTPClient *http.Client
	// Forget is how long a member that left stays listed (not alive).
	// Default 1h.
	Forget time.Duration
	// OnChange is called after the list changed (a member came or went,
	// or the list became stale or fresh). It may be called from several
	// goroutines, with no lock held, and must not block.
	OnChange func(Snapshot)
	// Logger; nil discards.
	Logger *slog.Logger
}

// Membership is this server's registration, and the list of servers it
// follows. Its methods are safe for concurrent use.
type Membership struct {
	cli    *clientv3.Client
	prefix string // <store prefix>servers/
	self   Member
	opt    Options
	log    *slog.Logger

	ctx    context.Context // ends at Close, or when cli is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup
	reput  chan struct{} // our record was deleted under a live lease

	mu      sync.Mutex
	lease   clientv3.LeaseID
	members map[string]*entry
	stale   bool
	errMsg  string
	synced  time.Time
	closed  bool
}

type entry struct {
	st  Status
	rev int64 // etcd revision of the last change applied
}

var _ View = (*Membership)(nil)

// Join registers self under prefix (the store's etcd prefix, e.g.
// "/rackboot/") at <prefix>servers/<name>, under a lease kept alive until
// Close, and starts following the other servers' records. It returns once
// the record is written and the list read once. If the lease is lost later
// (etcd unreachable for longer than the TTL), the record is written again
// as soon as etcd answers.
func Join(ctx context.Context, cli *clientv3.Client, prefix string, self Member, opt Options) (*Membership, error) {
	if err := ValidName(self.Name); err != nil {
		return nil, fmt.Errorf("join the cluster: %w", err)
	}
	if opt.TTL <= 0 {
		opt.TTL = 10 * time.Second
	}
	if opt.TTL < time.Second {
		opt.TTL = time.Second
	}
	if opt.Refresh <= 0 {
		opt.Refresh = opt.TTL / 3
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 5 * time.Second
	}
	if opt.Forget <= 0 {
		opt.Forget = time.Hour
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if self.Started.IsZero() {
		self.Started = time.Now()
	}
	self.Started = self.Started.UTC().Truncate(time.Millisecond)
	self.Instance = randomID()
	self.HTTPURL = strings.TrimRight(self.HTTPURL, "/")
	mctx, cancel := context.WithCancel(cli.Ctx()) // ends when the client is closed too
	m := &Membership{
		cli: cli, prefix: prefix + KeyPrefix, self: self, opt: opt, log: log.With("component", "cluster"),
		ctx: mctx, cancel: cancel, reput: make(chan struct{}, 1), members: map[string]*entry{},
	}
	m.warnDuplicate(ctx)
	if err := m.register(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("join the cluster as %s: %w", self.Name, err)
	}
	if _, err := m.list(ctx); err != nil {
		m.setStale(err)
	}
	m.wg.Add(3)
	go m.keep()
	go m.follow()
	go m.refresh()
	if opt.HealthInterval > 0 {
		m.wg.Add(1)
		go m.checkHealth()
	}
	m.log.Info("joined the cluster", "server", self.Name, "advertise", self.Advertise, "http", self.HTTPURL, "ttl", opt.TTL)
	return m, nil
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *Membership) key() string { return m.prefix + m.self.Name }

// Self is this server's record.
func (m *Membership) Self() Member { return m.self }

// Alive is how many servers are alive, as last seen (for /metrics).
func (m *Membership) Alive() int { return m.Members().AliveCount() }

// Members is the list of servers as last seen. While etcd does not answer
// it is the last known list, marked Stale.
func (m *Membership) Members() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	s := Snapshot{Stale: m.stale, Synced: m.synced, Error: m.errMsg}
	for name, e := range m.members {
		if !e.st.Alive && now.Sub(e.st.LastSeen) > m.opt.Forget {
			delete(m.members, name)
			continue
		}
		st := e.st
		if st.Health != nil {
			h := *st.Health
			st.Health = &h
		}
		s.Members = append(s.Members, st)
	}
	slices.SortFunc(s.Members, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Close stops following and revokes the lease, so that the others see this
// server gone at once.
func (m *Membership) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	lease := m.lease
	m.mu.Unlock()
	if lease == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opt.RequestTimeout)
	defer cancel()
	if _, err := m.cli.Revoke(ctx, lease); err != nil {
		if m.cli.Ctx().Err() != nil {
			return nil // the client is closed: the lease expires by itself
		}
		return fmt.Errorf("leave the cluster: revoke the registration of %s (it expires within %v): %w", m.self.Name, m.opt.TTL, err)
	}
	m.log.Info("left the cluster", "server", m.self.Name)
	return nil
}

// warnDuplicate tells when another process holds our name.
func (m *Membership) warnDuplicate(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, m.opt.RequestTimeout)
	defer cancel()
	resp, err := m.cli.Get(rctx, m.key())
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	var other Member
	if json.Unmarshal(resp.Kvs[0].Value, &other) == nil && other.Instance != m.self.Instance {
		m.log.Warn("a server with this name is registered already: if it is this server's previous run, its record "+
			"is replaced; if another server runs with this name, give each server its own name",
			"server", m.self.Name, "other_advertise", other.Advertise, "other_started", other.Started)
	}
}

// register writes our record under a new lease.
func (m *Membership) register(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, m.opt.RequestTimeout)
	defer cancel()
	secs := int64((m.opt.TTL + time.Second - 1) / time.Second)
	g, err := m.cli.Grant(rctx, secs)
	if err != nil {
		return fmt.Errorf("grant a lease: %w", err)
	}
	if err := m.put(rctx, g.ID); err != nil {
		m.cli.Revoke(rctx, g.ID)
		return err
	}
	m.mu.Lock()
	m.lease = g.ID
	m.mu.Unlock()
	return nil
}

func (m *Membership) put(ctx context.Context, lease clientv3.LeaseID) error {
	b, err := json.Marshal(m.self)
	if err != nil {
		return err
	}
	if _, err := m.cli.Put(ctx, m.key(), string(b), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("write %s: %w", m.key(), err)
	}
	return nil
}

// keep keeps the lease alive, and registers again when it is lost.
func (m *Membership) keep() {
	defer m.wg.Done()
	wait := 100 * time.Millisecond
	for m.ctx.Err() == nil {
		m.mu.Lock()
		lease := m.lease
		m.mu.Unlock()
		lost := m.keepAlive(lease)
		if m.ctx.Err() != nil {
			return
		}
		if lost {
			m.log.Warn("server registration lost (etcd unreachable for longer than the lease's TTL?); registering again",
				"server", m.self.Name, "ttl", m.opt.TTL)
		}
		for m.ctx.Err() == nil {
			err := m.register(m.ctx)
			if err == nil {
				m.log.Info("server registered again", "server", m.self.Name)
				wait = 100 * time.Millisecond
				break
			}
			m.log.Debug("register again", "err", err)
			if !sleep(m.ctx, wait) {
				return
			}
			wait = min(2*wait, m.opt.TTL/2)
		}
	}
}

// keepAlive runs the lease's keepalive until the lease is lost (true) or
// the membership ends. A record deleted under the live lease is written
// again.
func (m *Membership) keepAlive(lease clientv3.LeaseID) (lost bool) {
	ctx, cancel := context.WithCancel(m.ctx)
	defer cancel()
	ch, err := m.cli.KeepAlive(ctx, lease)
	if err != nil {
		m.log.Debug("keepalive", "err", err)
		return true
	}
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return true
			}
		case <-m.reput:
			rctx, rcancel := context.WithTimeout(m.ctx, m.opt.RequestTimeout)
			err := m.put(rctx, lease)
			rcancel()
			if err != nil {
				m.log.Warn("write the server's record again", "err", err)
				return true
			}
			m.log.Info("server record was deleted while its lease lives; written again", "server", m.self.Name)
		case <-m.ctx.Done():
			return false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
