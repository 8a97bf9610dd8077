package metrics

import "github.com/prometheus/client_golang/prometheus"

// powerMetrics are the BMC's: power operations and how long machines take
// from power-on to their OS's own DHCP.
type powerMetrics struct {
	ops  *prometheus.CounterVec
	osUp prometheus.Histogram
}

// OS up comes minutes after power-on: firmware POST alone takes one or two
// on a real server.
var osUpBuckets = []float64{5, 10, 20, 30, 60, 90, 120, 180, 300, 600, 900, 1800}

func newPowerMetrics(register func(prometheus.Collector)) powerMetrics {
	p := powerMetrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackboot_power_operations_total",
			Help: "Power operations through machines' BMCs, by action (status, on, off, cycle, reset) and result (ok, auth, no-answer, unsupported, state, not-configured, failed).",
		}, []string{"action", "result"}),
		osUp: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rackboot_os_up_seconds",
			Help:    "Time from power-on (through the BMC; else from the boot's first event) to the booted OS being seen up (its own DHCP, or its callback).",
			Buckets: osUpBuckets,
		}),
	}
	register(p.ops)
	register(p.osUp)
	return p
}

// PowerOperation counts one BMC operation.
func (m *Metrics) PowerOperation(action, result string) {
	m.power.ops.WithLabelValues(action, result).Inc()
}

// OSUp records one boot's time to OS up.
func (m *Metrics) OSUp(seconds float64) {
	m.power.osUp.Observe(seconds)
}
