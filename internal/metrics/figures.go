package metrics

import "github.com/prometheus/client_golang/prometheus"

// figure is one unlabelled metric taken from a struct of figures that
// another package keeps (LimitFigures, RAFigures, TimelineFigures).
type figure[F any] struct {
	name, help string
	kind       prometheus.ValueType // prometheus.CounterValue or GaugeValue
	value      func(F) float64
}

// figuresCollector reads its figures once per scrape, so that the metrics
// of one scrape agree with each other.
type figuresCollector[F any] struct {
	figures func() F
	metrics []figure[F]
	descs   []*prometheus.Desc
}

// registerFigures registers metrics read from figures at each scrape.
func registerFigures[F any](reg prometheus.Registerer, figures func() F, metrics ...figure[F]) {
	c := &figuresCollector[F]{figures: figures, metrics: metrics}
	for _, f := range metrics {
		c.descs = append(c.descs, prometheus.NewDesc(f.name, f.help, nil, nil))
	}
	reg.MustRegister(c)
}

func (c *figuresCollector[F]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *figuresCollector[F]) Collect(ch chan<- prometheus.Metric) {
	f := c.figures()
	for i, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(f))
	}
}
