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
	commitNanos      atomic.Int64
}

type eventKey struct {
	Table string
	Op    byte
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics { return &Metrics{events: map[eventKey]uint64{}} }

func (m *Metrics) event(t schema.TableID, op capture.Op, n int) {
	m.mu.Lock()
	m.events[eventKey{t.String(), byte(op)}]++
	m.mu.Unlock()
	m.Bytes.Add(uint64(n))
}

func (m *Metrics) committed(pos checkpoint.Position, d time.Duration) {
	m.Commits.Add(1)
	m.LastCommitUnixMs.Store(time.Now().UnixMilli())
	m.commitNanos.Store(int64(d))
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
		if out[k.Table] == nil {
			out[k.Table] = map[string]uint64{}
		}
		out[k.Table][string(rune(k.Op))] = v
	}
	return out
}

// LastPosition returns the last checkpointed position.
func (m *Metrics) LastPosition() checkpoint.Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastPos
}
