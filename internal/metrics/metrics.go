// Package metrics is rackboot's Prometheus endpoint (/metrics): DHCP packets
// by type and outcome, TFTP transfers and bytes, HTTP bytes by kind of file,
// boots in progress and finished, how long each boot stage takes, the build,
// and in dhcp.mode full the leases by subnet and state and the lease store's
// group commits (leases.go). It keeps its own registry (no global state),
// and its methods take plain values, so the protocol packages stay unaware
// of it.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rackboot/internal/events"
)

// Metrics holds every rackboot metric.
type Metrics struct {
	reg *prometheus.Registry

	dhcpPackets   *prometheus.CounterVec
	tftpTransfers *prometheus.CounterVec
	tftpBytes     prometheus.Counter
	httpRequests  *prometheus.CounterVec
	httpBytes     *prometheus.CounterVec
	boots         *prometheus.CounterVec
	bootSeconds   prometheus.Histogram
	stageSeconds  *prometheus.HistogramVec
	apiEvents     prometheus.Counter
	power         powerMetrics           // power.go
	apiRefused    *prometheus.CounterVec // api.go
}

// Buckets for boot stage and boot durations, in seconds: a menu is served
// in milliseconds, an archive over a slow link takes minutes.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}

// New makes the metrics. inProgress reports the boots under way now.
func New(version string, inProgress func() int) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.dhcpPackets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rackboot_dhcp_packets_total",
		Help: "DHCP packets received, by message type (DISCOVER, REQUEST, ...; empty if malformed) and outcome (answered, ignored, malformed, send-error).",
	}, []string{"type", "outcome"})
	m.tftpTransfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rackboot_tftp_transfers_total",
		Help: "TFTP read requests that ended, by result: ok, error (refused, timed out, aborted), missing (no such file: firmware probing).",
	}, []string{"result"})
	m.tftpBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rackboot_tftp_bytes_total",
		Help: "File bytes acknowledged by TFTP clients.",
	})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rackboot_http_requests_total",
		Help: "Boot files and menus served over HTTP, by kind (menu, kernel, archive, nbp, other) and status code.",
	}, []string{"kind", "code"})
	m.httpBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rackboot_http_bytes_total",
		Help: "Body bytes of boot files and menus sent over HTTP, by kind (menu, kernel, archive, nbp, other).",
	}, []string{"kind"})
	m.boots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rackboot_boots_total",
		Help: "Boots that ended, by result: booted kernel, OS up, abandoned.",
	}, []string{"result"})
	m.bootSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rackboot_boot_duration_seconds",
		Help:    "Time from a machine's first boot event to the end of its boot.",
		Buckets: durationBuckets,
	})
	m.stageSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rackboot_boot_stage_duration_seconds",
		Help:    "How long each boot stage took: from the end of the stage before it to its own last event.",
		Buckets: durationBuckets,
	}, []string{"stage"})
	f(m.dhcpPackets)
	f(m.tftpTransfers)
	f(m.tftpBytes)
	f(m.httpRequests)
	f(m.httpBytes)
	f(m.boots)
	f(m.bootSeconds)
	f(m.stageSeconds)
	m.power = newPowerMetrics(f)
	m.apiRefused = newAPIRefused(f)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rackboot_boots_in_progress",
		Help: "Machines that have begun a boot and have neither finished nor gone quiet.",
	}, func() float64 { return float64(inProgress()) }))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rackboot_build_info",
		Help: "The running rackboot: its version and the Go version it was built with. Always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	f(build)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// DHCP counts one received packet.
func (m *Metrics) DHCP(msgType, outcome string) {
	m.dhcpPackets.WithLabelValues(msgType, outcome).Inc()
}

// TFTP counts one transfer; result is ok, error or missing.
func (m *Metrics) TFTP(result string, bytes int64) {
	m.tftpTransfers.WithLabelValues(result).Inc()
	m.tftpBytes.Add(float64(bytes))
}

// HTTP counts one file or menu sent.
func (m *Metrics) HTTP(kind string, status int, bytes int64) {
	m.httpRequests.WithLabelValues(kind, strconv.Itoa(status)).Inc()
	m.httpBytes.WithLabelValues(kind).Add(float64(bytes))
}

// BootEnded records a finished boot and the duration of its stages.
func (m *Metrics) BootEnded(b events.Boot) {
	m.boots.WithLabelValues(b.Result).Inc()
	m.bootSeconds.Observe(b.Duration().Seconds())
	for _, st := range b.Stages {
		if st.Stage == events.StageBootedKernel {
			continue // derived at the archive's end: always 0
		}
		m.stageSeconds.WithLabelValues(string(st.Stage)).Observe(st.DurationMS / 1000)
	}
}
