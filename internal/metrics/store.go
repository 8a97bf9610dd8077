package metrics

import "github.com/prometheus/client_golang/prometheus"

// StoreFigures are a shared store's counters (etcd), read at each scrape.
type StoreFigures struct {
	// Requests that failed because the store was unavailable (no quorum,
	// no member reachable), by kind.
	UnavailableReads, UnavailableWrites uint64
	// Transactions that lost to another writer and were tried again.
	Conflicts uint64
}

// Store adds the store metrics (store.backend etcd), read from figures at
// each scrape:
//
//	rackboot_store_unavailable_total{op="read"|"write"} counter
//	rackboot_store_txn_conflicts_total                  counter
//
// Call it at most once.
func (m *Metrics) Store(figures func() StoreFigures) {
	m.reg.MustRegister(&storeCollector{figures: figures,
		unavail: prometheus.NewDesc("rackboot_store_unavailable_total",
			"Store requests that failed because etcd was unavailable (no quorum, or no member reachable); writes that need the store are refused.",
			[]string{"op"}, nil),
		conflicts: prometheus.NewDesc("rackboot_store_txn_conflicts_total",
			"Store transactions that another writer got ahead of (run again, or for leases, the lost writes dropped).", nil, nil),
	})
}

type storeCollector struct {
	figures            func() StoreFigures
	unavail, conflicts *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.unavail
	ch <- c.conflicts
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.figures()
	ch <- prometheus.MustNewConstMetric(c.unavail, prometheus.CounterValue, float64(f.UnavailableReads), "read")
	ch <- prometheus.MustNewConstMetric(c.unavail, prometheus.CounterValue, float64(f.UnavailableWrites), "write")
	ch <- prometheus.MustNewConstMetric(c.conflicts, prometheus.CounterValue, float64(f.Conflicts))
}
