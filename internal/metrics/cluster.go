package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClusterServers adds the number of rackboot servers alive on the shared
// store (this one included; 1 with the bolt store), read at each scrape.
func (m *Metrics) ClusterServers(alive func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rackboot_cluster_servers_alive",
		Help: "rackboot servers whose registration is alive in the shared store, this one included (1 with the bolt store).",
	}, func() float64 { return float64(alive()) }))
}
