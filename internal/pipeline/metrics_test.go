package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// gather collects m through a pedantic registry, which also checks that
// what Collect sends matches what Describe declares, and returns every
// sample as "name{label="value",...}" (histograms as _count and _sum).
func gather(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case s.GetCounter() != nil:
				out[key] = s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				out[key] = s.GetGauge().GetValue()
			case s.GetHistogram() != nil:
				out[key+"_count"] = float64(s.GetHistogram().GetSampleCount())
				out[key+"_sum"] = s.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func TestCheckpointPositionMetrics(t *testing.T) {
	tests := []struct {
		name string
		pos  *checkpoint.Position // nil: no checkpoint yet
		want map[string]float64
	}{
		{"before the first checkpoint", nil, map[string]float64{
			"sluice_checkpoint_lsn": 0, "sluice_checkpoint_binlog_file_number": 0, "sluice_checkpoint_binlog_position": 0,
			"sluice_checkpoint_commits_total": 0}},
		{"postgres", &checkpoint.Position{LSN: 0x16B3748}, map[string]float64{
			"sluice_checkpoint_lsn": 0x16B3748, "sluice_checkpoint_binlog_file_number": 0, "sluice_checkpoint_binlog_position": 0,
			"sluice_checkpoint_commits_total": 1}},
		{"mysql", &checkpoint.Position{File: "mysql-bin.000042", Pos: 1234, GTIDSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}, map[string]float64{
			"sluice_checkpoint_lsn": 0, "sluice_checkpoint_binlog_file_number": 42, "sluice_checkpoint_binlog_position": 1234}},
		{"mariadb file name", &checkpoint.Position{File: "mariadb-bin.001000", Pos: 4}, map[string]float64{
			"sluice_checkpoint_binlog_file_number": 1000, "sluice_checkpoint_binlog_position": 4}},
		{"a file name without a number", &checkpoint.Position{File: "binlog", Pos: 77}, map[string]float64{
			"sluice_checkpoint_binlog_file_number": 0, "sluice_checkpoint_binlog_position": 77}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics()
			if tc.pos != nil {
				m.committed(*tc.pos)
			}
			got := gather(t, m)
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			if _, ok := got["sluice_checkpoint_age_seconds"]; ok != (tc.pos != nil) {
				t.Errorf("sluice_checkpoint_age_seconds present %v, want %v", ok, tc.pos != nil)
			}
		})
	}
}

func TestBinlogFileNumber(t *testing.T) {
	tests := []struct {
		file string
		n    uint64
		ok   bool
	}{
		{"mysql-bin.000001", 1, true},
		{"binlog.999999", 999999, true},
		{"host.name-bin.1000000", 1000000, true},
		{"binlog", 0, false},
		{"binlog.", 0, false},
		{"binlog.00x1", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if n, ok := BinlogFileNumber(tc.file); n != tc.n || ok != tc.ok {
				t.Errorf("BinlogFileNumber(%q) = %d, %v; want %d, %v", tc.file, n, ok, tc.n, tc.ok)
			}
		})
	}
}

func TestEventAndErrorCounts(t *testing.T) {
	m := NewMetrics()
	orders := schema.TableID{Namespace: "public", Name: "orders"}
	lines := schema.TableID{Namespace: "public", Name: "order_lines"}
	m.Event(orders, capture.OpCreate, 100, 0)
	m.Event(orders, capture.OpCreate, 100, 0)
	m.Event(orders, capture.OpDelete, 50, 0)
	m.Event(lines, capture.OpRead, 10, 0)
	m.Error("kafka")
	got := gather(t, m)
	want := map[string]float64{
		`sluice_events_total{op="c",table="public.orders"}`:      2,
		`sluice_events_total{op="d",table="public.orders"}`:      1,
		`sluice_events_total{op="r",table="public.order_lines"}`: 1,
		"sluice_event_bytes_total":                               260,
		`sluice_errors_total{kind="kafka"}`:                      1,
		`sluice_errors_total{kind="value"}`:                      0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestCommitToKafkaLatency produces through franz-go's in-process Kafka:
// every change event's acknowledgement is measured from its source
// commit; snapshot reads, tombstones and the checkpoint record are not
// change events of a commit, but count in the produce latency.
func TestCommitToKafkaLatency(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sr := srfake.New()
	t.Cleanup(sr.Close)
	m := NewMetrics()
	prod, err := emit.NewProducer(emit.Options{Brokers: c.ListenAddrs(), DeliveryTimeout: 2 * time.Second, OnAck: m.Acked})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: sr.URL()})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{Name: "test", Kind: schema.Postgres, Tombstones: true, Metrics: m}, prod, reg, nil)
	ctx := context.Background()
	if err := p.EnsureInternalTopics(ctx); err != nil {
		t.Fatal(err)
	}
	committed := time.Now().Add(-2 * time.Second).UnixMilli()
	changes := []*capture.Change{
		{Op: capture.OpRead, Table: table, After: []any{[]byte("1"), []byte("x")}, Source: capture.SourceInfo{TsMs: committed, Snapshot: "true"}},
		{Op: capture.OpCreate, Table: table, After: []any{[]byte("2"), []byte("x")}, Source: capture.SourceInfo{TsMs: committed}},
		{Op: capture.OpDelete, Table: table, Before: []any{[]byte("2"), nil}, Source: capture.SourceInfo{TsMs: committed}}, // and its tombstone
		{Op: capture.OpCreate, Table: table, After: []any{[]byte("3"), []byte("x")}},                                       // no commit time
	}
	for _, ch := range changes {
		if err := p.Change(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SnapshotDone(ctx, checkpoint.Position{LSN: 20}); err != nil {
		t.Fatal(err)
	}
	got := gather(t, m)
	if n := got["sluice_commit_to_kafka_latency_seconds_count"]; n != 2 {
		t.Errorf("commit-to-Kafka latency observed %v times, want 2 (the create and the delete)", n)
	}
	if s := got["sluice_commit_to_kafka_latency_seconds_sum"]; s < 4 || s > 20 {
		t.Errorf("commit-to-Kafka latency sum %vs, want about 2 x 2s", s)
	}
	// The two changes with a commit time, and the first of the four
	// other records (the read, the tombstone, the create without a commit
	// time, the checkpoint), one in ackSample of which is timed.
	if n := got["sluice_kafka_produce_latency_seconds_count"]; n != 3 {
		t.Errorf("produce latency observed %v times, want 3 (2 change events, 1 of 4 other records)", n)
	}
}

// BenchmarkMetricsEvent is what counting one produced event costs the
// produce path.
func BenchmarkMetricsEvent(b *testing.B) {
	m := NewMetrics()
	id := schema.TableID{Namespace: "public", Name: "orders"}
	b.ReportAllocs()
	for b.Loop() {
		m.event(id, capture.OpCreate, 470, 1700000000000)
	}
}
