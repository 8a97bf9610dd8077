package server

import (
	"rackboot/internal/metrics"
	"rackboot/internal/store/etcdstore"
)

// storeMetrics adds the etcd store's counters to /metrics (store.backend
// etcd only): requests refused while etcd was unavailable, by read and
// write, and transaction conflicts.
func (s *Server) storeMetrics() {
	st, ok := s.store.(*etcdstore.Store)
	if !ok {
		return
	}
	s.timeline.Metrics.Store(func() metrics.StoreFigures {
		f := st.Stats()
		return metrics.StoreFigures{UnavailableReads: f.UnavailableReads, UnavailableWrites: f.UnavailableWrites, Conflicts: f.TxnConflicts}
	})
}
