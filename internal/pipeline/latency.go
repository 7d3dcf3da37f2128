package pipeline

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
)

// commitStamp rides on a produced change record as its kgo.Record.Context,
// which franz-go keeps with the record and hands back to the
// acknowledgement hook, and carries the source commit time of the change.
// It is a context that never ends (context.Background's Done, Err and
// Deadline), so franz-go never cancels the record by it. Stamps are carved
// from the slab with their records: stamping costs no allocation.
type commitStamp struct {
	context.Context
	tsMs int64
}

// stamp returns the commit stamp of c's record, or nil for a snapshot
// read (its time is the snapshot's, not a commit's) and for a change
// without a commit time.
func (s *slab) stamp(c *capture.Change) context.Context {
	if c.Op == capture.OpRead || c.Source.TsMs <= 0 {
		return nil
	}
	st := s.newStamp()
	*st = commitStamp{Context: context.Background(), tsMs: c.Source.TsMs}
	return st
}

// Acked records Kafka's acknowledgement of r, just now: the produce
// latency and, for a change event, the latency from its source commit. A
// source clock ahead of this host's counts as 0. Every change event is
// timed; of the other records (snapshot rows, tombstones, Sluice's own)
// one in ackSample is, as the metric's help says: at a snapshot's rate the
// clock read per acknowledgement took 4% of Sluice's CPU.
func (m *Metrics) Acked(r *kgo.Record) {
	cs, change := r.Context.(*commitStamp)
	if !change && m.untimedAcks.Add(1)%ackSample != 1 {
		return
	}
	at := m.now()
	if !r.Timestamp.IsZero() {
		m.ProduceLatency.Observe(at.Sub(r.Timestamp).Seconds())
	}
	if change {
		m.CommitLatency.Observe(max(0, float64(at.UnixMilli()-cs.tsMs)/1e3))
	}
}

// ackSample: Acked times one in this many records that are not change
// events.
const ackSample = 16
