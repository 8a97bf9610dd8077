package etcdstore

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"rackboot/internal/store"
)

// Watch implements store.Store. It asks etcd for the current revision first
// and watches from the next one, so every write committed after the call is
// reported. When etcd does not answer that question, the watch starts after
// the highest revision this store has seen: nothing is lost, and events
// committed shortly before the call may be reported too.
func (s *Store) Watch(ctx context.Context, prefix string) <-chan store.Event {
	out := make(chan store.Event)
	if err := s.begin(ctx); err != nil {
		close(out)
		return out
	}
	defer s.end()
	full := s.prefix + prefix
	start := s.lastRev.Load()
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	resp, err := s.cli.Get(rctx, full, clientv3.WithCountOnly())
	cancel()
	if err == nil {
		s.seen(resp.Header.Revision)
		start = resp.Header.Revision
	} else {
		s.log.Warn("etcd store: watch starts from the last revision seen", "prefix", prefix, "revision", start,
			"err", s.describe("watch", prefix, err, s.timeout))
	}
	wctx, wcancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.done, wcancel)
	go func() {
		defer close(out)
		defer stop()
		defer wcancel()
		s.watch(wctx, prefix, full, start+1, out)
	}()
	return out
}

// watch delivers events from revision next on until ctx is done. When etcd
// ends the watch (a member restarted, the leader was lost), it watches again
// from the revision after the last event delivered.
func (s *Store) watch(ctx context.Context, prefix, full string, next int64, out chan<- store.Event) {
	wait := 50 * time.Millisecond
	for {
		// WithRequireLeader: a member cut off from the quorum ends the
		// watch instead of going silent, and the next one goes elsewhere.
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), full, clientv3.WithPrefix(), clientv3.WithRev(next))
		for resp := range wch {
			if resp.CompactRevision != 0 {
				s.watchesLost.Add(1)
				s.log.Error("etcd store: watch fell behind etcd's compaction; events are lost, the watcher must list again",
					"prefix", prefix, "next", next, "compacted", resp.CompactRevision)
				return
			}
			if err := resp.Err(); err != nil {
				s.log.Debug("etcd store: watch ended", "prefix", prefix, "next", next, "err", err)
				break
			}
			if len(resp.Events) > 0 {
				wait = 50 * time.Millisecond
			}
			for _, ev := range resp.Events {
				e := store.Event{Type: store.EventPut, KV: s.kv(ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)}
				if ev.Type == mvccpb.DELETE {
					e.Type, e.Value = store.EventDelete, nil
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
				// etcd never splits one revision's events over two
				// responses (unless asked to fragment), so resuming at
				// the next revision neither loses nor repeats one.
				next = ev.Kv.ModRevision + 1
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.watchRestarts.Add(1)
		s.log.Info("etcd store: watch restarts", "prefix", prefix, "from", next)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, 2*time.Second)
	}
}
