package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// The hook of the configured transforms (package transform) between
// decoding and encoding. A transformed table's changes are encoded here,
// on the pipeline's goroutine (snapshot readers hand them over unencoded),
// and produced like every other record: in source order, in the same
// Kafka transaction and under the same checkpoints [I1..I5].

// transformedState returns the state of a table version that a transform
// applies to, or nil when none does.
func (p *Pipeline) transformedState(ctx context.Context, t *schema.Table) (*tableState, error) {
	if p.o.Transforms == nil {
		return nil, nil
	}
	exclude := p.o.ExcludeColumns[t.ID.String()]
	plan, err := p.o.Transforms.For(t, exclude)
	if err != nil || plan == nil {
		return nil, err
	}
	topic := TableTopic(p.o.Name, t.ID)
	codec, err := schema.NewCodec(topic, plan.Table, schema.CodecOptions{
		Kind: p.o.Kind, Name: p.o.Name, Exclude: exclude, Override: plan.Override,
		AvroLogicalTypes: p.o.AvroLogicalTypes, Connector: p.o.Connector,
	})
	if err != nil {
		return nil, err
	}
	ensure := func(ctx context.Context, topic string) error {
		return p.topics.Ensure(ctx, emit.TopicSpec{Name: topic, Partitions: p.o.Partitions, ReplicationFactor: p.o.Replication})
	}
	st := &tableState{codec: codec, tf: p.o.Transforms.NewEncoder(plan, codec, p.reg, ensure)}
	p.tables[t] = st
	return st, nil
}

// encodeTransformed encodes c through its table's transforms. rec is nil
// when the configuration drops the change; a tombstone that is kept
// without its delete comes back as rec.
func (p *Pipeline) encodeTransformed(ctx context.Context, st *tableState, c *capture.Change) (rec, tomb *kgo.Record, err error) {
	recs, err := st.tf.Encode(ctx, c, time.Now(), p.o.Tombstones, p.meta.block)
	if err != nil {
		return nil, nil, err
	}
	if len(recs) > 0 {
		recs[0].Context = p.slab.stamp(c)
	}
	switch len(recs) {
	case 0:
		return nil, nil, nil
	case 1:
		return recs[0], nil, nil
	case 2:
		return recs[0], recs[1], nil
	}
	return nil, nil, fmt.Errorf("transform of %s made %d records of one change", c.Table.ID, len(recs))
}
