package metrics

import "github.com/prometheus/client_golang/prometheus"

// FilesRefused adds the count of file names refused to the boot network
// (over TFTP and HTTP alike: secrets, scratch files, names outside every
// served directory), read from refused at each scrape.
func (m *Metrics) FilesRefused(refused func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rackboot_files_refused_total",
		Help: "File names refused to TFTP and HTTP clients because they are not served (the data directory's state, hidden or scratch files, names outside the platforms and public/).",
	}, func() float64 { return float64(refused()) }))
}
