// Package etcdstore is the store.Store on an etcd cluster, through
// go.etcd.io/etcd/client/v3, so that several rackboot servers share one state
// (and several sites share one cluster, each under its own prefix).
//
// Key layout: a store key k is the etcd key Prefix+k, nothing else is written,
// and the prefix is stripped from every key that comes back (Get, List,
// Watch). A prefix ends with "/", so that "/rackboot/a/" never sees
// "/rackboot/ab/".
//
// Revisions are etcd's own: KV.Revision is the key's ModRevision, Put returns
// the revision of its write, an event's Revision is its ModRevision (for a
// delete: the delete's revision). etcd numbers revisions for the whole
// cluster, so with several prefixes on one cluster a store's revisions grow by
// every site's writes: they only grow, but are not consecutive.
//
// Txn is software transactional memory over one etcd transaction: reads are
// made at one revision (the first read's), writes are buffered, and the commit
// is one etcd Txn whose compares check that every key read (and every range
// listed) is unchanged since that revision; when another writer got there
// first, fn runs again. A Txn that only read commits nothing. etcd caps the
// compares and the operations of one transaction (--max-txn-ops, 128 by
// default: DefaultMaxTxnOps); a Txn over the cap is refused whole with
// ErrTxnTooLarge, never split (a split would not be atomic), so callers that
// batch writes keep each batch within Options.MaxTxnOps.
//
// Watch starts at the cluster's revision when it is called and resumes after
// a member or connection failure from the revision after the last event it
// delivered, so nothing is lost or doubled. A watch that falls behind etcd's
// compaction cannot be resumed: its channel is closed (Stats.WatchesLost
// counts it) and the caller lists and watches again.
//
// Errors say what to do. A request that etcd cannot answer in time (no
// quorum, no member reachable) fails after Options.RequestTimeout with an
// error wrapping ErrUnavailable that names the endpoints; Stats counts these
// per reads and writes, for the metrics. A write that failed that way may
// still have been applied (etcd cannot tell), as with etcd's own client.
package etcdstore
