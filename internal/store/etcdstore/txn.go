package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"rackboot/internal/store"
)

// Txn implements store.Store as software transactional memory: fn's reads
// are made at one revision and its writes buffered; the commit is one etcd
// Txn that applies the writes only if nothing fn read has changed since, and
// fn runs again when something has. A Txn with more writes, or more keys
// read, than MaxTxnOps is refused with ErrTxnTooLarge.
func (s *Store) Txn(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := &tx{s: s, ctx: ctx, reads: map[string]int64{}, writes: map[string][]byte{}}
		if err := fn(t); err != nil {
			if errors.Is(err, errRetry) {
				s.conflicts.Add(1)
				continue
			}
			return err
		}
		ok, err := t.commit()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		s.conflicts.Add(1)
	}
}

// errRetry is returned by a tx read whose snapshot revision was compacted
// away: the transaction starts over at a new revision.
var errRetry = errors.New("etcd store: snapshot compacted, retry")

// tx is one try of a Txn.
type tx struct {
	s     *Store
	ctx   context.Context
	rev   int64 // the snapshot revision every read is made at; 0 before the first
	after int64 // a revision before the commit: what it writes comes later

	reads  map[string]int64  // etcd key -> ModRevision read (0: absent)
	ranges []string          // etcd key prefixes listed
	writes map[string][]byte // etcd key -> value; nil value: delete
	order  []string          // etcd keys written, first write first
}

// read is one read at the snapshot revision (set by the first read).
func (t *tx) read(op, key, full string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.get(t.ctx, op, key, full, opts...)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil, errRetry
	}
	if err != nil {
		return nil, err
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	for _, kv := range resp.Kvs {
		t.reads[string(kv.Key)] = kv.ModRevision
	}
	return resp, nil
}

func (t *tx) Get(key string) (store.KV, error) {
	if err := store.ValidKey(key); err != nil {
		return store.KV{}, fmt.Errorf("get: %w", err)
	}
	full := t.s.prefix + key
	if v, ok := t.writes[full]; ok {
		if v == nil {
			return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
		}
		// Revision 0: the write's revision is known only once committed.
		return store.KV{Key: key, Value: bytes.Clone(v)}, nil
	}
	resp, err := t.read("get", key, full)
	if err != nil {
		return store.KV{}, err
	}
	if len(resp.Kvs) == 0 {
		t.reads[full] = 0
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	kv := resp.Kvs[0]
	return t.s.kv(kv.Key, kv.Value, kv.ModRevision), nil
}

func (t *tx) List(prefix string) ([]store.KV, error) {
	full := t.s.prefix + prefix
	resp, err := t.read("list", prefix, full, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	t.ranges = append(t.ranges, full)
	out := make([]store.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if _, written := t.writes[string(kv.Key)]; !written {
			out = append(out, t.s.kv(kv.Key, kv.Value, kv.ModRevision))
		}
	}
	for _, k := range t.order {
		if v := t.writes[k]; v != nil && strings.HasPrefix(k, full) {
			out = append(out, store.KV{Key: k[len(t.s.prefix):], Value: bytes.Clone(v)})
		}
	}
	slices.SortFunc(out, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) })
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (t *tx) Put(key string, value []byte) error {
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if value == nil {
		value = []byte{}
	}
	t.write(t.s.prefix+key, bytes.Clone(value))
	return nil
}

func (t *tx) Delete(key string) error {
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	t.write(t.s.prefix+key, nil)
	return nil
}

// write buffers a key's last value; etcd refuses a key twice in one Txn.
func (t *tx) write(full string, value []byte) {
	if _, ok := t.writes[full]; !ok {
		t.order = append(t.order, full)
	}
	t.writes[full] = value
}

// commit sends the buffered writes under compares on everything read. It
// reports false when a compare failed (another writer got there first).
func (t *tx) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil // reads only: one consistent snapshot, nothing to apply
	}
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+len(t.ranges))
	for k, rev := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
	}
	for _, p := range t.ranges {
		// No key in the range written since the snapshot: catches keys
		// created under a listed prefix (deleted ones fail their own compare).
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(p).WithPrefix(), "<", t.rev+1))
	}
	ops := make([]clientv3.Op, 0, len(t.order))
	for _, k := range t.order {
		if v := t.writes[k]; v != nil {
			ops = append(ops, clientv3.OpPut(k, string(v)))
		} else {
			ops = append(ops, clientv3.OpDelete(k))
		}
	}
	if len(ops) > t.s.maxOps || len(cmps) > t.s.maxOps {
		return false, fmt.Errorf("txn: %w: %d writes and %d compares (keys read, ranges listed), etcd allows %d of each in one transaction: "+
			"write in batches of at most %d (each batch atomic on its own)", ErrTxnTooLarge, len(ops), len(cmps), t.s.maxOps, t.s.maxOps)
	}
	t.after = t.rev
	if t.after == 0 {
		t.after = t.s.lastRev.Load()
	}
	var resp *clientv3.TxnResponse
	err := t.s.request(t.ctx, "txn", strings.TrimPrefix(t.order[0], t.s.prefix), true, func(rctx context.Context) error {
		var err error
		resp, err = t.s.cli.Txn(rctx).If(cmps...).Then(ops...).Commit()
		return err
	}, t.applied)
	if err != nil {
		return false, err
	}
	if resp == nil { // found applied after its answer was lost
		return true, nil
	}
	t.s.seen(resp.Header.Revision)
	return resp.Succeeded, nil
}

// applied reads the written keys back after a commit whose answer was lost:
// it was applied if every key holds what the transaction wrote (deleted keys
// are gone), the keys it put all at one revision after the snapshot.
func (t *tx) applied(rctx context.Context) (bool, error) {
	gets := make([]clientv3.Op, len(t.order))
	for i, k := range t.order {
		gets[i] = clientv3.OpGet(k)
	}
	resp, err := t.s.cli.Txn(rctx).Then(gets...).Commit()
	if err != nil {
		return false, err
	}
	var rev int64
	for i, k := range t.order {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		want := t.writes[k]
		switch {
		case want == nil && len(kvs) == 0:
		case want == nil || len(kvs) != 1 || !bytes.Equal(kvs[0].Value, want):
			return false, nil
		case kvs[0].ModRevision <= t.after || rev != 0 && kvs[0].ModRevision != rev:
			return false, nil
		default:
			rev = kvs[0].ModRevision
		}
	}
	return true, nil
}
