package metrics

import "github.com/prometheus/client_golang/prometheus"

// RAFigures are what the router advertisement responder did, read at each
// scrape (DESIGN.md, "Router advertisements that configure nothing").
type RAFigures struct {
	Answered           int64 // advertisements sent to booting machines
	SuppressedByRouter int64 // solicitations left to a real router on the link
	NotBooting         int64 // solicitations from machines not network-booting
	Silent             bool  // a real router advertises: rackboot stays silent
}

// RA adds, read from figures at each scrape:
//
//	rackboot_ra_answered_total              counter
//	rackboot_ra_suppressed_by_router_total  counter
//	rackboot_ra_not_booting_total           counter
//	rackboot_ra_silent                      gauge (1 while a real router advertises)
//
// Call it at most once.
func (m *Metrics) RA(figures func() RAFigures) {
	counter := func(name, help string, v func(RAFigures) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(figures())) })
	}
	m.reg.MustRegister(
		counter("rackboot_ra_answered_total",
			"IPv6 router solicitations of network-booting machines answered with a router advertisement that configures nothing.",
			func(f RAFigures) int64 { return f.Answered }),
		counter("rackboot_ra_suppressed_by_router_total",
			"IPv6 router solicitations of network-booting machines not answered because a real router advertises on the boot network.",
			func(f RAFigures) int64 { return f.SuppressedByRouter }),
		counter("rackboot_ra_not_booting_total",
			"IPv6 router solicitations not answered because their sender is not network-booting.",
			func(f RAFigures) int64 { return f.NotBooting }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rackboot_ra_silent",
			Help: "1 while a real IPv6 router advertises on the boot network and rackboot sends no router advertisements."},
			func() float64 {
				if figures().Silent {
					return 1
				}
				return 0
			}),
	)
}
