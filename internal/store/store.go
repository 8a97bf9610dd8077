// Package store is rackboot's one storage interface: a small, ordered key-value
// store with revisions, transactions and watches, shaped after etcd's v3 API so
// that the default implementation (boltstore, one file in the data dir) and a
// future etcd one (go.etcd.io/etcd/client/v3) can be swapped without callers
// noticing.
//
// Keys are "/"-separated strings grouped in namespaces, for example
// "platforms/<build>", "machines/<mac>", "leases/<ip>", "config/<name>".
// Values are opaque bytes; callers encode them (JSON by convention).
//
// Every committed write advances a store-wide revision, an int64 that only
// grows (etcd's "mod revision"). All writes of one transaction share one
// revision. A KV carries the revision of its last write, so a caller can read,
// decide and write back under Txn without losing a concurrent update.
//
// Every implementation must pass the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("key not found")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store is closed")

// KV is one key with its value and the revision of its last write.
type KV struct {
	Key      string
	Value    []byte
	Revision int64
}

// EventType tells a Put from a Delete in a watch stream.
type EventType int

// The kinds of watch events.
const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change seen by Watch. For EventDelete, Value is nil and
// Revision is the revision of the delete.
type Event struct {
	Type EventType
	KV
}

// Tx is the view a transaction function gets: reads see the store as of the
// transaction's start plus the transaction's own writes.
type Tx interface {
	Get(key string) (KV, error)
	List(prefix string) ([]KV, error)
	Put(key string, value []byte) error
	Delete(key string) error
}

// Store is the storage interface every rackboot package uses.
type Store interface {
	// Get returns the key's value, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key starting with prefix, ordered by key (bytewise).
	// A prefix "a/" does not match "ab/x". The empty prefix lists everything.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Put stores value under key and returns the new revision.
	Put(ctx context.Context, key string, value []byte) (int64, error)
	// Delete removes key. Deleting a missing key is not an error (as in etcd).
	Delete(ctx context.Context, key string) error
	// Txn runs fn as one atomic read-modify-write: either all of its writes
	// are committed, or (fn returned an error) none are. fn must have no side
	// effects outside tx: an implementation may run it more than once.
	//
	// boltstore runs fn inside one bbolt Update transaction, so fn runs once
	// and writers are serialized. etcdstore runs fn as software
	// transactional memory: it records the revisions of the keys read,
	// commits the writes with a compare-and-swap on those revisions, and
	// runs fn again when another writer got there first.
	Txn(ctx context.Context, fn func(tx Tx) error) error
	// Watch reports Put and Delete events for keys under prefix committed
	// after the call, in revision order. The channel is closed when ctx is
	// done or the store is closed. Events are never dropped; a slow reader
	// only delays its own channel.
	Watch(ctx context.Context, prefix string) <-chan Event
	// Close releases the store. Watch channels are closed.
	Close() error
}

// ValidKey reports whether key can be stored: non-empty, valid UTF-8, with no
// NUL byte, and not longer than 1 KiB.
func ValidKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > 1024:
		return fmt.Errorf("key %.40q... is longer than 1024 bytes", key)
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not valid UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("key %q contains a NUL byte", key)
	}
	return nil
}

// CondOp is one write of a CommitIf: Value nil deletes Key. Rev is the
// key's revision the writer last saw (KV.Revision); 0 means the key must be
// absent.
type CondOp struct {
	Key   string
	Value []byte
	Rev   int64
}

// CondCommitter is implemented by stores that several servers write at
// once (etcdstore): a batch of compare-and-swaps in one transaction, which
// says which keys lost instead of running a function again. The full-DHCP
// lease manager uses it to group-commit leases that another server may be
// writing too (DESIGN.md, "Full DHCP, active-active").
type CondCommitter interface {
	// CommitIf applies every op in one atomic transaction if each op's
	// key is still at its Rev, and returns the transaction's revision.
	// When some keys moved, it applies nothing and returns those keys'
	// current state in conflicts (Revision 0 and nil Value: absent); the
	// caller drops their writes and commits the rest again. A key may
	// appear once; len(ops) must not exceed MaxTxnOps.
	CommitIf(ctx context.Context, ops []CondOp) (rev int64, conflicts []KV, err error)
	// MaxTxnOps is the most ops one CommitIf may carry.
	MaxTxnOps() int
}
