package metrics

import "github.com/prometheus/client_golang/prometheus"

// LimitFigures are what the TFTP and HTTP servers' caps did, read at each
// scrape (DESIGN.md, "What bounds each protocol under a flood").
type LimitFigures struct {
	TFTPRefused, TFTPShed int64 // counters since start
	TFTPActive            int64 // transfers now
	HTTPRefused           int64 // connections closed at once: their client was at its cap
	HTTPOpen              int64 // connections now
}

// Limits adds, read from figures at each scrape:
//
//	rackboot_tftp_requests_refused_total   counter
//	rackboot_tftp_transfers_shed_total     counter
//	rackboot_tftp_transfers_active         gauge
//	rackboot_http_connections_refused_total counter
//	rackboot_http_connections_open         gauge
//
// Call it at most once.
func (m *Metrics) Limits(figures func() LimitFigures) {
	registerFigures(m.reg, figures,
		figure[LimitFigures]{"rackboot_tftp_requests_refused_total",
			"TFTP read requests refused because a cap on transfers (tftp.max_transfers, tftp.max_transfers_per_client) was hit and every transfer under it had answered.",
			prometheus.CounterValue, func(f LimitFigures) float64 { return float64(f.TFTPRefused) }},
		figure[LimitFigures]{"rackboot_tftp_transfers_shed_total",
			"TFTP transfers cancelled before their client ever answered, to make room under a cap for a newer request (a flood of requests shows here).",
			prometheus.CounterValue, func(f LimitFigures) float64 { return float64(f.TFTPShed) }},
		figure[LimitFigures]{"rackboot_tftp_transfers_active", "TFTP transfers running now.",
			prometheus.GaugeValue, func(f LimitFigures) float64 { return float64(f.TFTPActive) }},
		figure[LimitFigures]{"rackboot_http_connections_refused_total",
			"HTTP connections closed at once because their client address had http.max_connections_per_client open.",
			prometheus.CounterValue, func(f LimitFigures) float64 { return float64(f.HTTPRefused) }},
		figure[LimitFigures]{"rackboot_http_connections_open", "HTTP connections open now.",
			prometheus.GaugeValue, func(f LimitFigures) float64 { return float64(f.HTTPOpen) }},
	)
}
