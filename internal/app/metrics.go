package app

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// newRegistry returns the registry /metrics serves: the Go runtime and
// process collectors, the pipeline's metrics, and the instance's own.
func (s *State) newRegistry() *prometheus.Registry {
	bit := func(ok bool, _ string) float64 {
		if ok {
			return 1
		}
		return 0
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.Metrics,
		stateCollector{s},
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_pipeline_restarts_total", Help: "Pipeline restarts from the last checkpoint after a transient error.",
		}, func() float64 { return float64(s.Restarts.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_ready", Help: "1 while streaming and making progress (/readyz answers 200).",
		}, func() float64 { return bit(s.Ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_live", Help: "1 while /healthz answers 200; 0 once work is pending and there was no progress for the liveness timeout.",
		}, func() float64 { return bit(s.Live()) }),
	)
	return reg
}

var (
	snapshotRowsDesc = prometheus.NewDesc("sluice_snapshot_rows_total",
		"Rows read by the snapshot, by table.", []string{"table"}, nil)
	snapshotEstimateDesc = prometheus.NewDesc("sluice_snapshot_rows_estimate",
		"Estimated rows to read by the snapshot, by table.", []string{"table"}, nil)
	snapshotETADesc = prometheus.NewDesc("sluice_snapshot_eta_seconds",
		"Time left to read the table's snapshot, at its rate since it started in this run (only while known).", []string{"table"}, nil)
	slotRetainedDesc = prometheus.NewDesc("sluice_postgres_slot_retained_wal_bytes",
		"WAL the replication slot holds back (current WAL position - restart_lsn).", nil, nil)
)

// stateCollector collects the metrics whose series come and go with the
// instance: snapshot progress per table, the Postgres slot's retained WAL.
type stateCollector struct{ s *State }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- snapshotRowsDesc
	ch <- snapshotEstimateDesc
	ch <- snapshotETADesc
	ch <- slotRetainedDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, tp := range c.s.Snapshot.Tables() {
		t := tp.ID.String()
		ch <- prometheus.MustNewConstMetric(snapshotRowsDesc, prometheus.CounterValue, float64(tp.Done.Load()), t)
		ch <- prometheus.MustNewConstMetric(snapshotEstimateDesc, prometheus.GaugeValue, float64(tp.Total), t)
		if eta, ok := tp.ETA(); ok {
			ch <- prometheus.MustNewConstMetric(snapshotETADesc, prometheus.GaugeValue, eta.Seconds(), t)
		}
	}
	if f := c.s.SlotRetainedBytes.Load(); f != nil {
		ch <- prometheus.MustNewConstMetric(slotRetainedDesc, prometheus.GaugeValue, float64((*f)()))
	}
}

// metricsHandler serves the registry in the format the scraper asks for
// (Prometheus text by default). A collector's error is logged and the
// rest is served.
func (s *State) metricsHandler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// WriteMetrics writes what /metrics serves, in the Prometheus text format.
func (s *State) WriteMetrics(w io.Writer) error {
	mfs, err := s.registry.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
