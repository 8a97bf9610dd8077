package metrics

import "github.com/prometheus/client_golang/prometheus"

// The API's refusals for credentials: a wrong token is someone's mistake
// or someone guessing, and an operator alerts on it.
func newAPIRefused(register func(prometheus.Collector)) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rackboot_api_refused_total",
		Help: "API requests refused for their credentials, by reason: no-token, bad-token (a wrong bearer token), forged (a dashboard session's write without its CSRF token or from another site), sign-in (a wrong token at the dashboard's sign-in), throttled (sign-ins refused after too many wrong tokens from one client).",
	}, []string{"reason"})
	register(c)
	return c
}

// APIRefused counts one API request refused for its credentials.
func (m *Metrics) APIRefused(reason string) {
	m.apiRefused.WithLabelValues(reason).Inc()
}
