package etcdstore

import (
	"bytes"
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"rackboot/internal/store"
)

var _ store.CondCommitter = (*Store)(nil)

// CommitIf implements store.CondCommitter: one etcd Txn whose compares say
// each key is at the revision its op names (ModRevision, 0 when absent),
// whose Then holds the writes, and whose Else reads every key back, so that
// a lost compare costs no second round trip to learn which keys moved.
// An answer lost to a failure is checked as Txn's commit is (every key
// holds what was written, at one revision after the last one seen).
func (s *Store) CommitIf(ctx context.Context, ops []store.CondOp) (int64, []store.KV, error) {
	if len(ops) == 0 {
		return 0, nil, nil
	}
	if len(ops) > s.maxOps {
		return 0, nil, fmt.Errorf("commit: %w: %d writes, etcd allows %d in one transaction", ErrTxnTooLarge, len(ops), s.maxOps)
	}
	seen := make(map[string]bool, len(ops))
	for _, o := range ops {
		if err := store.ValidKey(o.Key); err != nil {
			return 0, nil, fmt.Errorf("commit: %w", err)
		}
		if seen[o.Key] {
			return 0, nil, fmt.Errorf("commit: key %q twice in one transaction", o.Key)
		}
		seen[o.Key] = true
	}
	if err := s.begin(ctx); err != nil {
		return 0, nil, err
	}
	defer s.end()
	cmps := make([]clientv3.Cmp, len(ops))
	then := make([]clientv3.Op, len(ops))
	els := make([]clientv3.Op, len(ops))
	for i, o := range ops {
		full := s.prefix + o.Key
		cmps[i] = clientv3.Compare(clientv3.ModRevision(full), "=", o.Rev)
		if o.Value != nil {
			then[i] = clientv3.OpPut(full, string(o.Value))
		} else {
			then[i] = clientv3.OpDelete(full)
		}
		els[i] = clientv3.OpGet(full)
	}
	after := s.lastRev.Load()
	var resp *clientv3.TxnResponse
	var appliedRev int64
	err := s.request(ctx, "txn", ops[0].Key, true, func(rctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(rctx).If(cmps...).Then(then...).Else(els...).Commit()
		return err
	}, func(rctx context.Context) (bool, error) {
		resp = nil
		rresp, err := s.cli.Txn(rctx).Then(els...).Commit()
		if err != nil {
			return false, err
		}
		var rev int64
		for i, o := range ops {
			kvs := rresp.Responses[i].GetResponseRange().Kvs
			switch {
			case o.Value == nil && len(kvs) == 0:
			case o.Value == nil || len(kvs) != 1 || !bytes.Equal(kvs[0].Value, o.Value):
				return false, nil
			case kvs[0].ModRevision <= after || rev != 0 && kvs[0].ModRevision != rev:
				return false, nil
			default:
				rev = kvs[0].ModRevision
			}
		}
		appliedRev = max(rev, rresp.Header.Revision)
		return true, nil
	})
	if err != nil {
		return 0, nil, err
	}
	if resp == nil { // applied, its answer lost
		s.seen(appliedRev)
		return appliedRev, nil, nil
	}
	s.seen(resp.Header.Revision)
	if resp.Succeeded {
		return resp.Header.Revision, nil, nil
	}
	s.conflicts.Add(1)
	var lost []store.KV
	for i, o := range ops {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		switch {
		case len(kvs) == 0 && o.Rev != 0:
			lost = append(lost, store.KV{Key: o.Key})
		case len(kvs) == 1 && kvs[0].ModRevision != o.Rev:
			lost = append(lost, s.kv(kvs[0].Key, kvs[0].Value, kvs[0].ModRevision))
		}
	}
	if len(lost) == 0 { // cannot happen: Else reads at the compares' revision
		return 0, nil, fmt.Errorf("commit %q: etcd refused the compares, yet no key moved", ops[0].Key)
	}
	return 0, lost, nil
}
