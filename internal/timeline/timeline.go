// Package timeline makes the boot timeline one across the rackboot servers
// that share an etcd store: a machine whose DHCP went to one server and
// whose HTTP went to another shows one boot, on every server's dashboard.
//
// Each server publishes the steps it observes (its events.Log's own DHCP,
// TFTP, menu, HTTP and "OS up" events, with a MAC) into the store, in
// batches: every Interval (250 ms), one etcd transaction per MaxTxnOps
// events, under
//
//	<prefix>timeline/<event time, ns, 19 digits>-<server>-<instance>-<seq>
//
// holding a JSON record: the server's name, its instance (random, per
// process), the event and the files a kernel needs (events.Event.Needs is
// not in the event's JSON). The keys are attached to an etcd lease of TTL
// Retention (1 h) that is never renewed; a new lease is granted every
// Retention/6, so a key lives 50 to 60 minutes and etcd removes it, with
// nothing to prune and even when no rackboot server is left running.
//
// Every server watches the prefix and hands the other instances' events to
// Deliver (observe.Observer.Remote: the sighting that names the machine,
// then the Log), with events.Event.Server set to the server that saw it.
// A Log never publishes an event with Server set, and records carrying this
// instance are skipped on the way in, so nothing goes round. Derived events
// (booted, abandoned) and download progress are not published: every Log
// derives its own, from the same steps.
//
// The boot path never waits for the store: the Log fans events out without
// blocking, and the publisher holds what it could not write (up to
// MaxPending, the oldest dropped and counted beyond) and tries again with a
// back-off. A server that starts reads the newest Backfill records first, so
// its dashboard shows the boots of the last hour at once.
package timeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"rackboot/internal/events"
	"rackboot/internal/store/etcdstore"
)

// Defaults for a zero Options.
const (
	DefaultInterval       = 250 * time.Millisecond
	DefaultRetention      = time.Hour
	DefaultBackfill       = 1000
	DefaultMaxPending     = 8192
	DefaultRequestTimeout = 2 * time.Second
	maxBackoff            = 5 * time.Second
)

// Options configure Start. Store, Server and Log are required.
type Options struct {
	Store  *etcdstore.Store // the shared store: its client and its prefix
	Server string           // this server's name, shown with its events on the others
	Log    *events.Log      // this server's timeline: its own events are read from it
	// Deliver takes another server's event (Server set); nil is
	// Log.Publish. rackboot passes observe.Observer.Remote, which also
	// names the machine at its address.
	Deliver func(events.Event)
	// Interval is how long events gather before a write. Default 250ms.
	Interval time.Duration
	// Retention is how long a published event stays in the store (its
	// lease's TTL). Default 1h.
	Retention time.Duration
	// Backfill is how many of the newest records a starting server
	// reads. Default 1000; negative reads none.
	Backfill int
	// MaxPending bounds the events held while the store does not take
	// them; beyond it the oldest are dropped. Default 8192.
	MaxPending int
	// RequestTimeout bounds each write, lease grant and read. Default 2s.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Stats count what the metrics show. Every field only grows.
type Stats struct {
	Published uint64 // this server's events written to the store
	Received  uint64 // other servers' events taken into the Log
	Dropped   uint64 // this server's events given up: held too long (MaxPending) or lost by the subscription
	Failures  uint64 // writes that failed (the events are tried again)
}

// record is what one key holds.
type record struct {
	Server   string       `json:"server"`
	Instance string       `json:"instance"`
	Event    events.Event `json:"event"`
	Needs    []string     `json:"needs,omitempty"`
}

// Sharer publishes this server's events and receives the others'.
type Sharer struct {
	opt      Options
	cli      *clientv3.Client
	keys     string // the etcd prefix of the records
	instance string
	maxOps   int
	log      *slog.Logger
	sub      *events.Subscription

	cancel context.CancelFunc
	wg     sync.WaitGroup

	lease   clientv3.LeaseID // publisher goroutine only
	leaseAt time.Time

	published, received, dropped, failures atomic.Uint64
	subDropped                             uint64 // publisher goroutine only: sub.Dropped() already counted
}

// Start begins publishing and receiving. Close stops it.
func Start(opt Options) (*Sharer, error) {
	switch {
	case opt.Store == nil || opt.Log == nil:
		return nil, errors.New("timeline: a store and a log are required")
	case opt.Server == "" || strings.ContainsAny(opt.Server, "/\x00"):
		return nil, fmt.Errorf("timeline: server name %q: it must be set, without a slash", opt.Server)
	}
	if opt.Deliver == nil {
		opt.Deliver = func(ev events.Event) { opt.Log.Publish(ev) }
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Retention < time.Minute {
		opt.Retention = DefaultRetention
	}
	if opt.Backfill == 0 {
		opt.Backfill = DefaultBackfill
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = DefaultMaxPending
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = DefaultRequestTimeout
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [4]byte
	rand.Read(id[:])
	s := &Sharer{
		opt: opt, cli: opt.Store.Client(), keys: opt.Store.Prefix() + "timeline/", instance: hex.EncodeToString(id[:]),
		maxOps: opt.Store.MaxTxnOps(), log: log,
		sub: opt.Log.Subscribe("", 16384),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	// The publisher ends when the subscription does (Close, or the Log
	// closing), after its last batch: its requests are bounded by
	// RequestTimeout, not by Close.
	go func() { defer s.wg.Done(); s.publish(context.Background()) }()
	go func() { defer s.wg.Done(); s.receive(ctx) }()
	return s, nil
}

// Stats returns the counters.
func (s *Sharer) Stats() Stats {
	return Stats{Published: s.published.Load(), Received: s.received.Load(), Dropped: s.dropped.Load(), Failures: s.failures.Load()}
}

// Close stops receiving, writes what is held (within RequestTimeout) and
// returns. Call it before the store closes.
func (s *Sharer) Close() {
	s.sub.Close() // the publisher's last batch
	s.cancel()
	s.wg.Wait()
}

// shared says whether ev goes to the other servers: this server's own
// observed steps of a named machine. Derived events and progress do not.
func shared(ev events.Event) bool {
	if ev.Remote() || ev.MAC == "" {
		return false
	}
	switch ev.Type {
	case events.TypeDHCP, events.TypeTFTP, events.TypeMenu, events.TypeHTTP, events.TypeUp:
		return true
	}
	return false
}

// publish gathers this server's events and writes them every Interval
// until the subscription ends, then writes what it holds.
func (s *Sharer) publish(ctx context.Context) {
	tick := time.NewTicker(s.opt.Interval)
	defer tick.Stop()
	var (
		pending []events.Event
		retryAt time.Time
		backoff = s.opt.Interval
	)
	flush := func(ctx context.Context) {
		n, err := s.write(ctx, pending)
		pending = append(pending[:0], pending[n:]...)
		if err == nil {
			backoff, retryAt = s.opt.Interval, time.Time{}
			return
		}
		s.failures.Add(1)
		if backoff == s.opt.Interval { // the first failure in a row
			s.log.Warn("timeline: publishing to the store failed; this server's boot events stay local until it answers",
				"held", len(pending), "err", err)
		}
		retryAt = time.Now().Add(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
	for {
		select {
		case ev, ok := <-s.sub.C:
			if !ok {
				s.countSubDrops()
				if len(pending) > 0 {
					flush(ctx)
				}
				if len(pending) > 0 {
					s.dropped.Add(uint64(len(pending)))
				}
				return
			}
			if !shared(ev) {
				continue
			}
			pending = append(pending, ev)
			if over := len(pending) - s.opt.MaxPending; over > 0 {
				s.dropped.Add(uint64(over))
				pending = append(pending[:0], pending[over:]...)
			}
		case <-tick.C:
			s.countSubDrops()
			if len(pending) > 0 && !time.Now().Before(retryAt) {
				flush(ctx)
			}
		}
	}
}

// countSubDrops adds what the subscription lost to Dropped.
func (s *Sharer) countSubDrops() {
	if d := s.sub.Dropped(); d > s.subDropped {
		s.dropped.Add(d - s.subDropped)
		s.subDropped = d
	}
}

// write puts batch in the store, one transaction per MaxTxnOps events,
// and returns how many were written before an error.
func (s *Sharer) write(ctx context.Context, batch []events.Event) (int, error) {
	done := 0
	for chunk := range slices.Chunk(batch, s.maxOps) {
		if err := s.writeChunk(ctx, chunk); err != nil {
			return done, err
		}
		done += len(chunk)
		s.published.Add(uint64(len(chunk)))
	}
	return done, nil
}

func (s *Sharer) writeChunk(ctx context.Context, chunk []events.Event) error {
	for try := 0; ; try++ {
		lease, err := s.currentLease(ctx)
		if err != nil {
			return err
		}
		ops := make([]clientv3.Op, 0, len(chunk))
		for _, ev := range chunk {
			key, val, err := s.encode(ev)
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(key, val, clientv3.WithLease(lease)))
		}
		rctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
		_, err = s.cli.Txn(rctx).Then(ops...).Commit()
		cancel()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && try == 0 {
			s.lease = 0 // expired while etcd was away: a new one
			continue
		}
		return err
	}
}

// currentLease returns the lease new records are attached to, granting a
// new one every Retention/6: a record lives between 5/6 of Retention and
// Retention.
func (s *Sharer) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	if s.lease != 0 && time.Since(s.leaseAt) < s.opt.Retention/6 {
		return s.lease, nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Grant(rctx, int64(s.opt.Retention/time.Second))
	if err != nil {
		return 0, fmt.Errorf("timeline: lease: %w", err)
	}
	s.lease, s.leaseAt = resp.ID, time.Now()
	return s.lease, nil
}

// encode is an event's key and record.
func (s *Sharer) encode(ev events.Event) (key, value string, err error) {
	key = fmt.Sprintf("%s%019d-%s-%s-%d", s.keys, ev.Time.UnixNano(), s.opt.Server, s.instance, ev.Seq)
	needs := ev.Needs
	// What the Log set is the receiving Log's to set again.
	ev.Seq, ev.Boot, ev.Stage, ev.Summary, ev.Needs = 0, 0, events.StageNone, nil, nil
	b, err := json.Marshal(record{Server: s.opt.Server, Instance: s.instance, Event: ev, Needs: needs})
	return key, string(b), err
}

// receive reads the newest records, then follows the prefix until ctx
// ends, handing other instances' events to Deliver.
func (s *Sharer) receive(ctx context.Context) {
	wait := s.opt.Interval
	var next int64
	for next == 0 {
		rev, err := s.backfill(ctx)
		if err == nil {
			next = rev + 1
			break
		}
		s.log.Warn("timeline: reading the shared timeline failed; trying again", "err", err)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, maxBackoff)
	}
	wait = s.opt.Interval
	for {
		// WithRequireLeader: a member cut off from the quorum ends the
		// watch instead of going silent; the next one goes elsewhere.
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.keys, clientv3.WithPrefix(), clientv3.WithRev(next),
			clientv3.WithFilterDelete())
		for resp := range wch {
			if resp.CompactRevision != 0 {
				s.log.Warn("timeline: the watch fell behind etcd's compaction; other servers' events in between are missed",
					"next", next, "compacted", resp.CompactRevision)
				next = resp.CompactRevision
				break
			}
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				s.take(ev.Kv.Value)
				next = ev.Kv.ModRevision + 1
			}
			wait = s.opt.Interval
		}
		if ctx.Err() != nil {
			return
		}
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, maxBackoff)
	}
}

// backfill takes the newest Backfill records, oldest first, and returns
// the revision they were read at.
func (s *Sharer) backfill(ctx context.Context) (int64, error) {
	limit := int64(max(s.opt.Backfill, 1))
	rctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.keys, clientv3.WithPrefix(), clientv3.WithLimit(limit),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return 0, err
	}
	if s.opt.Backfill > 0 {
		for i := len(resp.Kvs) - 1; i >= 0; i-- {
			s.take(resp.Kvs[i].Value)
		}
	}
	return resp.Header.Revision, nil
}

// take hands one record to Deliver unless it is this instance's own.
func (s *Sharer) take(value []byte) {
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		s.log.Warn("timeline: a record that does not decode", "err", err)
		return
	}
	if r.Instance == s.instance {
		return
	}
	ev := r.Event
	ev.Server, ev.Needs = r.Server, r.Needs
	if ev.Server == "" {
		ev.Server = "unnamed"
	}
	ev.Seq, ev.Boot, ev.Stage, ev.Summary = 0, 0, events.StageNone, nil
	s.received.Add(1)
	s.opt.Deliver(ev)
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
