package pipeline

import (
	"context"
	"time"

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
	if len(s.stamps) == 0 {
		s.stamps = make([]commitStamp, slabRecords)
	}
	st := &s.stamps[0]
	s.stamps = s.stamps[1:]
	*st = commitStamp{Context: context.Background(), tsMs: c.Source.TsMs}
	return st
}

// Acked records Kafka's acknowledgement of r at time at: the produce
// latency of every record and, for a change event, the latency from its
// source commit. A source clock ahead of this host's counts as 0.
func (m *Metrics) Acked(r *kgo.Record, at time.Time) {
	if !r.Timestamp.IsZero() {
		m.ProduceLatency.Observe(at.Sub(r.Timestamp).Seconds())
	}
	if cs, ok := r.Context.(*commitStamp); ok {
		m.CommitLatency.Observe(max(0, float64(at.UnixMilli()-cs.tsMs)/1e3))
	}
}
