package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// Metrics counts what the pipeline did. It is read by the HTTP endpoint.
type Metrics struct {
	mu      sync.Mutex
	events  map[eventKey]uint64
	Bytes   atomic.Uint64
	Commits atomic.Uint64
	// LastCommitUnixMs is when the last checkpoint became durable.
	LastCommitUnixMs atomic.Int64
	lastPos          checkpoint.Position
	// bytesAtCheckpoint is Bytes when the last checkpoint became durable:
	// Bytes grows with every produced event, so a difference means events
	// wait for a checkpoint, at no cost to the produce path.
	bytesAtCheckpoint atomic.Uint64

	// LastSourceTsMs is the source commit time of the last event; CaughtUp
	// is set when the source reports being idle after it.
	LastSourceTsMs atomic.Int64
	CaughtUp       atomic.Bool
	// ProduceLatency is seconds from producing a record to its
	// acknowledgement by Kafka.
	ProduceLatency *Histogram
	errMu          sync.Mutex
	errs           map[string]uint64
}

// Error counts an error of a kind ("kafka", "source", "registry",
// "value", "config", "other").
func (m *Metrics) Error(kind string) {
	m.errMu.Lock()
	m.errs[kind]++
	m.errMu.Unlock()
}

// ErrorCounts returns a copy of the error counters.
func (m *Metrics) ErrorCounts() map[string]uint64 {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	out := make(map[string]uint64, len(m.errs))
	for k, v := range m.errs {
		out[k] = v
	}
	return out
}

// LagSeconds is how far the last delivered event's commit is behind now,
// 0 once the source reported being caught up after it.
func (m *Metrics) LagSeconds() float64 {
	ts := m.LastSourceTsMs.Load()
	if ts == 0 || m.CaughtUp.Load() {
		return 0
	}
	return max(0, time.Since(time.UnixMilli(ts)).Seconds())
}

// eventKey keys the per-table counters by the table's ID itself, so that
// counting an event builds no string.
type eventKey struct {
	Table schema.TableID
	Op    byte
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{events: map[eventKey]uint64{}, errs: map[string]uint64{},
		ProduceLatency: NewHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)}
}

func (m *Metrics) event(t schema.TableID, op capture.Op, n int, sourceTsMs int64) {
	if sourceTsMs > 0 {
		m.LastSourceTsMs.Store(sourceTsMs)
		m.CaughtUp.Store(false)
	}
	m.mu.Lock()
	m.events[eventKey{t, byte(op)}]++
	m.mu.Unlock()
	m.Bytes.Add(uint64(n))
}

// Unsettled reports whether events were produced since the last
// checkpoint (or since Abandon).
func (m *Metrics) Unsettled() bool { return m.Bytes.Load() != m.bytesAtCheckpoint.Load() }

// Abandon forgets the events produced since the last checkpoint, for a
// pipeline that stopped: the next one produces them again from the
// checkpoint.
func (m *Metrics) Abandon() { m.bytesAtCheckpoint.Store(m.Bytes.Load()) }

func (m *Metrics) committed(pos checkpoint.Position) {
	// Every event counted in Bytes was produced on this goroutine before
	// the commit, so the checkpoint covers them all.
	m.bytesAtCheckpoint.Store(m.Bytes.Load())
	m.Commits.Add(1)
	m.LastCommitUnixMs.Store(time.Now().UnixMilli())
	m.mu.Lock()
	m.lastPos = pos
	m.mu.Unlock()
}

// EventCounts returns a copy of the per table and op counters.
func (m *Metrics) EventCounts() map[string]map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]map[string]uint64{}
	for k, v := range m.events {
		t := k.Table.String()
		if out[t] == nil {
			out[t] = map[string]uint64{}
		}
		out[t][string(rune(k.Op))] = v
	}
	return out
}

// LastPosition returns the last checkpointed position.
func (m *Metrics) LastPosition() checkpoint.Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastPos
}

// Histogram is a Prometheus-style cumulative histogram safe for
// concurrent use.
type Histogram struct {
	Bounds []float64 // upper bounds, ascending
	counts []atomic.Uint64
	count  atomic.Uint64
	sumMu  sync.Mutex
	sum    float64
}

// NewHistogram returns a histogram with the given upper bounds.
func NewHistogram(bounds ...float64) *Histogram {
	return &Histogram{Bounds: bounds, counts: make([]atomic.Uint64, len(bounds))}
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	for i, b := range h.Bounds {
		if v <= b {
			h.counts[i].Add(1)
		}
	}
	h.count.Add(1)
	h.sumMu.Lock()
	h.sum += v
	h.sumMu.Unlock()
}

// Snapshot returns the cumulative bucket counts, the total count and sum.
func (h *Histogram) Snapshot() (buckets []uint64, count uint64, sum float64) {
	buckets = make([]uint64, len(h.counts))
	for i := range h.counts {
		buckets[i] = h.counts[i].Load()
	}
	h.sumMu.Lock()
	sum = h.sum
	h.sumMu.Unlock()
	return buckets, h.count.Load(), sum
}
