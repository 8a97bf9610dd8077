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
	registerFigures(m.reg, figures,
		figure[RAFigures]{"rackboot_ra_answered_total",
			"IPv6 router solicitations of network-booting machines answered with a router advertisement that configures nothing.",
			prometheus.CounterValue, func(f RAFigures) float64 { return float64(f.Answered) }},
		figure[RAFigures]{"rackboot_ra_suppressed_by_router_total",
			"IPv6 router solicitations of network-booting machines not answered because a real router advertises on the boot network.",
			prometheus.CounterValue, func(f RAFigures) float64 { return float64(f.SuppressedByRouter) }},
		figure[RAFigures]{"rackboot_ra_not_booting_total",
			"IPv6 router solicitations not answered because their sender is not network-booting.",
			prometheus.CounterValue, func(f RAFigures) float64 { return float64(f.NotBooting) }},
		figure[RAFigures]{"rackboot_ra_silent",
			"1 while a real IPv6 router advertises on the boot network and rackboot sends no router advertisements.",
			prometheus.GaugeValue, func(f RAFigures) float64 {
				if f.Silent {
					return 1
				}
				return 0
			}},
	)
}
