// Package etcdstore is the store.Store on an etcd cluster, through
// go.etcd.io/etcd/client/v3. Several rackboot servers (and several sites, each
// under its own prefix) share one cluster.
package etcdstore

import clientv3 "go.etcd.io/etcd/client/v3"

// DefaultMaxTxnOps is etcd's default limit on the operations (and on the
// compares) of one transaction (the server's --max-txn-ops).
const DefaultMaxTxnOps = 128

var _ clientv3.Config
