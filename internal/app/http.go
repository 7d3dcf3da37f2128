package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/sluicecdc/sluice/internal/config"
)

// ServeHTTP serves /metrics, /healthz and /readyz on h.Listen until ctx
// ends, with the probe thresholds of h. It returns once listening, or an
// error naming the address.
func ServeHTTP(ctx context.Context, h config.HTTP, st *State, log *slog.Logger) error {
	addr := h.Listen
	if addr == "" {
		return nil
	}
	st.SetProbeTimeouts(h.ReadinessTimeout, h.LivenessTimeout)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w (choose a free address or set http.listen to \"\" to disable)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", probeHandler(st.Live))
	mux.HandleFunc("/readyz", probeHandler(st.Ready))
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		st.WriteMetrics(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	go st.sampleProgress(ctx, time.Second)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return nil
}

// WriteMetrics writes the Prometheus text exposition.
func (s *State) WriteMetrics(w interface{ Write([]byte) (int, error) }) {
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }
	p("# HELP sluice_events_total Change events produced, by table and op.\n# TYPE sluice_events_total counter\n")
	counts := s.Metrics.EventCounts()
	tables := make([]string, 0, len(counts))
	for t := range counts {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		ops := make([]string, 0, len(counts[t]))
		for op := range counts[t] {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		for _, op := range ops {
			p("sluice_events_total{table=%q,op=%q} %d\n", t, op, counts[t][op])
		}
	}
	p("# HELP sluice_event_bytes_total Bytes of produced change records (key and value).\n# TYPE sluice_event_bytes_total counter\n")
	p("sluice_event_bytes_total %d\n", s.Metrics.Bytes.Load())
	p("# HELP sluice_checkpoint_commits_total Checkpoints committed.\n# TYPE sluice_checkpoint_commits_total counter\n")
	p("sluice_checkpoint_commits_total %d\n", s.Metrics.Commits.Load())
	p("# HELP sluice_checkpoint_lsn Postgres LSN of the last checkpoint.\n# TYPE sluice_checkpoint_lsn gauge\n")
	p("sluice_checkpoint_lsn %d\n", uint64(s.Metrics.LastPosition().LSN))
	if ms := s.Metrics.LastCommitUnixMs.Load(); ms > 0 {
		p("# HELP sluice_checkpoint_age_seconds Seconds since the last checkpoint.\n# TYPE sluice_checkpoint_age_seconds gauge\n")
		p("sluice_checkpoint_age_seconds %g\n", time.Since(time.UnixMilli(ms)).Seconds())
	}
	p("# HELP sluice_snapshot_rows_total Rows read by the snapshot, by table.\n# TYPE sluice_snapshot_rows_total counter\n")
	p("# HELP sluice_snapshot_rows_estimate Estimated rows to read by the snapshot, by table.\n# TYPE sluice_snapshot_rows_estimate gauge\n")
	for _, tp := range s.Snapshot.Tables() {
		p("sluice_snapshot_rows_total{table=%q} %d\n", tp.ID.String(), tp.Done.Load())
		p("sluice_snapshot_rows_estimate{table=%q} %d\n", tp.ID.String(), tp.Total)
	}
	p("# HELP sluice_source_lag_seconds Seconds the last delivered event's commit is behind now (0 when caught up).\n# TYPE sluice_source_lag_seconds gauge\n")
	p("sluice_source_lag_seconds %g\n", s.Metrics.LagSeconds())
	if f := s.SlotRetainedBytes.Load(); f != nil {
		p("# HELP sluice_postgres_slot_retained_wal_bytes WAL the replication slot holds back (current WAL position - restart_lsn).\n# TYPE sluice_postgres_slot_retained_wal_bytes gauge\n")
		p("sluice_postgres_slot_retained_wal_bytes %d\n", (*f)())
	}
	buckets, count, sum := s.Metrics.ProduceLatency.Snapshot()
	p("# HELP sluice_kafka_produce_latency_seconds Time from producing a record to its acknowledgement by Kafka.\n# TYPE sluice_kafka_produce_latency_seconds histogram\n")
	for i, b := range s.Metrics.ProduceLatency.Bounds {
		p("sluice_kafka_produce_latency_seconds_bucket{le=\"%g\"} %d\n", b, buckets[i])
	}
	p("sluice_kafka_produce_latency_seconds_bucket{le=\"+Inf\"} %d\n", count)
	p("sluice_kafka_produce_latency_seconds_sum %g\nsluice_kafka_produce_latency_seconds_count %d\n", sum, count)
	p("# HELP sluice_errors_total Pipeline errors by kind (kafka, source, registry, value, config, other).\n# TYPE sluice_errors_total counter\n")
	errs := s.Metrics.ErrorCounts()
	for _, k := range []string{"config", "kafka", "other", "registry", "source", "value"} {
		p("sluice_errors_total{kind=%q} %d\n", k, errs[k])
	}
	p("# HELP sluice_pipeline_restarts_total Pipeline restarts from the last checkpoint after a transient error.\n# TYPE sluice_pipeline_restarts_total counter\n")
	p("sluice_pipeline_restarts_total %d\n", s.Restarts.Load())
	ready := 0
	if ok, _ := s.Ready(); ok {
		ready = 1
	}
	p("# HELP sluice_ready 1 while streaming and making progress.\n# TYPE sluice_ready gauge\nsluice_ready %d\n", ready)
	live := 0
	if ok, _ := s.Live(); ok {
		live = 1
	}
	p("# HELP sluice_live 1 unless work is pending without progress for the liveness timeout (/healthz answers 503).\n# TYPE sluice_live gauge\nsluice_live %d\n", live)
}
