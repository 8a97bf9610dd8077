package metrics

import "github.com/prometheus/client_golang/prometheus"

// TimelineFigures are the shared timeline's counters (internal/timeline),
// with an etcd store shared by several servers.
type TimelineFigures struct {
	Published, Received, Dropped, Failures uint64
}

// Timeline adds the shared timeline's counters, read from figures at each
// scrape. It is not called with the bolt store: nothing is shared.
func (m *Metrics) Timeline(figures func() TimelineFigures) {
	registerFigures(m.reg, figures,
		figure[TimelineFigures]{"rackboot_timeline_events_published_total",
			"This server's boot events written to the shared timeline in the store.",
			prometheus.CounterValue, func(f TimelineFigures) float64 { return float64(f.Published) }},
		figure[TimelineFigures]{"rackboot_timeline_events_received_total",
			"Other servers' boot events taken from the shared timeline into this server's.",
			prometheus.CounterValue, func(f TimelineFigures) float64 { return float64(f.Received) }},
		figure[TimelineFigures]{"rackboot_timeline_events_dropped_total",
			"This server's boot events never published to the shared timeline: the store did not take them in time (too many held) or the publisher fell behind.",
			prometheus.CounterValue, func(f TimelineFigures) float64 { return float64(f.Dropped) }},
		figure[TimelineFigures]{"rackboot_timeline_publish_failures_total",
			"Writes to the shared timeline that failed (the store unreachable or without quorum); their events are tried again.",
			prometheus.CounterValue, func(f TimelineFigures) float64 { return float64(f.Failures) }},
	)
}
