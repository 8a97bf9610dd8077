package metrics

import "github.com/prometheus/client_golang/prometheus"

// LeaseFigures are the full DHCP server's figures, read at each scrape. They
// are plain values, so that this package knows nothing of the lease types.
type LeaseFigures struct {
	Subnets []SubnetLeases
	// The lease store's group commits: transactions, the lease writes they
	// carried, and the time spent in them. They only grow.
	Commits       uint64
	Writes        uint64
	CommitSeconds float64
	// A store shared with other servers (etcd): clients' lease writes
	// that lost to another server's write of the same lease; refused
	// because the store failed; renewals answered from memory while it
	// failed; other servers' lease writes taken from the watch.
	Conflicts, Refused, OfflineRenewals, Remote uint64
}

// SubnetLeases is one subnet's addresses.
type SubnetLeases struct {
	Subnet        string         // "10.0.0.0/24"
	PoolAddresses int            // what its pools can hand out
	ByState       map[string]int // addresses by lease state now: bound, offered, declined, ...
	// Counters since start: DISCOVERs refused because the pools were
	// full; held offers given to another client when full, or dropped
	// over the cap on held offers (a DISCOVER flood shows in all three).
	Exhausted, OffersTaken, OffersDropped uint64
}

// Leases adds the lease metrics (dhcp.mode full), read from figures at
// each scrape:
//
//	rackboot_dhcp_leases{subnet,state}       gauge
//	rackboot_dhcp_pool_addresses{subnet}     gauge
//	rackboot_dhcp_pool_exhausted_total{subnet} counter
//	rackboot_dhcp_offers_taken_total{subnet}   counter
//	rackboot_dhcp_offers_dropped_total{subnet} counter
//	rackboot_lease_commits_total             counter
//	rackboot_lease_writes_total              counter
//	rackboot_lease_commit_seconds_total      counter
//	rackboot_lease_conflicts_total           counter
//	rackboot_lease_writes_refused_total      counter
//	rackboot_lease_offline_renewals_total    counter
//	rackboot_lease_remote_writes_total       counter
//
// Call it at most once.
func (m *Metrics) Leases(figures func() LeaseFigures) {
	m.reg.MustRegister(&leaseCollector{
		figures: figures,
		leases: prometheus.NewDesc("rackboot_dhcp_leases",
			"Addresses of each DHCP subnet by lease state now (offered, bound, released, declined, expired).",
			[]string{"subnet", "state"}, nil),
		pool: prometheus.NewDesc("rackboot_dhcp_pool_addresses",
			"Addresses the subnet's pools can hand out (not the network, broadcast, excluded or reserved ones).",
			[]string{"subnet"}, nil),
		exhausted: prometheus.NewDesc("rackboot_dhcp_pool_exhausted_total",
			"DISCOVERs that got no offer because every pool address of the subnet was leased, quarantined or offered.",
			[]string{"subnet"}, nil),
		taken: prometheus.NewDesc("rackboot_dhcp_offers_taken_total",
			"Offers held for a client that had not REQUESTed yet and given to another client because the pools were full (oldest first).",
			[]string{"subnet"}, nil),
		dropped: prometheus.NewDesc("rackboot_dhcp_offers_dropped_total",
			"Held offers dropped, oldest first, because the subnet held more than its cap of offers.",
			[]string{"subnet"}, nil),
		commits: prometheus.NewDesc("rackboot_lease_commits_total",
			"Store transactions run by the lease group committer (each one fsync).", nil, nil),
		writes: prometheus.NewDesc("rackboot_lease_writes_total",
			"Lease writes those transactions carried: writes/commits is the mean batch.", nil, nil),
		seconds: prometheus.NewDesc("rackboot_lease_commit_seconds_total",
			"Time spent in lease store transactions.", nil, nil),
		conflicts: prometheus.NewDesc("rackboot_lease_conflicts_total",
			"Clients' lease writes that another server sharing the store wrote first (the REQUEST is NAKed, or ACKed when the stored lease is the client's).", nil, nil),
		refused: prometheus.NewDesc("rackboot_lease_writes_refused_total",
			"Clients' lease writes refused because the store failed (etcd without quorum): no ACK for a new lease.", nil, nil),
		offline: prometheus.NewDesc("rackboot_lease_offline_renewals_total",
			"Renewals of stored leases answered from memory, with the time they had left, while the store failed.", nil, nil),
		remote: prometheus.NewDesc("rackboot_lease_remote_writes_total",
			"Lease writes of other servers sharing the store, taken from its watch.", nil, nil),
	})
}

// leaseCollector turns LeaseFigures into metrics at each scrape.
type leaseCollector struct {
	figures                                func() LeaseFigures
	leases, pool, commits, writes, seconds *prometheus.Desc
	exhausted, taken, dropped              *prometheus.Desc
	conflicts, refused, offline, remote    *prometheus.Desc
}

func (c *leaseCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leases, c.pool, c.commits, c.writes, c.seconds, c.exhausted, c.taken, c.dropped,
		c.conflicts, c.refused, c.offline, c.remote} {
		ch <- d
	}
}

func (c *leaseCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.figures()
	for _, s := range f.Subnets {
		ch <- prometheus.MustNewConstMetric(c.pool, prometheus.GaugeValue, float64(s.PoolAddresses), s.Subnet)
		ch <- prometheus.MustNewConstMetric(c.exhausted, prometheus.CounterValue, float64(s.Exhausted), s.Subnet)
		ch <- prometheus.MustNewConstMetric(c.taken, prometheus.CounterValue, float64(s.OffersTaken), s.Subnet)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.OffersDropped), s.Subnet)
		for state, n := range s.ByState {
			ch <- prometheus.MustNewConstMetric(c.leases, prometheus.GaugeValue, float64(n), s.Subnet, state)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(f.Commits))
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(f.Writes))
	ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, f.CommitSeconds)
	ch <- prometheus.MustNewConstMetric(c.conflicts, prometheus.CounterValue, float64(f.Conflicts))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(f.Refused))
	ch <- prometheus.MustNewConstMetric(c.offline, prometheus.CounterValue, float64(f.OfflineRenewals))
	ch <- prometheus.MustNewConstMetric(c.remote, prometheus.CounterValue, float64(f.Remote))
}
