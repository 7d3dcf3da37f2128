package app

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsEndpoint: /metrics serves the Prometheus text format with
// the Go runtime and process collectors beside Sluice's own metrics.
func TestMetricsEndpoint(t *testing.T) {
	st := NewState()
	rec := httptest.NewRecorder()
	st.metricsHandler(slog.New(slog.NewTextHandler(io.Discard, nil))).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, name := range []string{
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
		"sluice_ready", "sluice_live", "sluice_pipeline_restarts_total", "sluice_kafka_produce_latency_seconds_bucket",
		"sluice_commit_to_kafka_latency_seconds_bucket", `sluice_errors_total{kind="source"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(body, "\n"+name) {
				t.Errorf("/metrics has no %s", name)
			}
		})
	}
}
