package pipeline

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// A table's output: its change topic and its key and value schemas in the
// registry. Each is a round trip when it is new (about 30 ms for a topic
// and as much for a schema, with the servers on the same host), paid
// before the table's first event is produced: they are made concurrently,
// and a snapshot reader has them made while it reads the table's first
// chunk (Prepare), so that the source's goroutine finds them ready at the
// hand-over.

// codec returns the encoder of the change events of table version t when
// no transform applies to it (transformedState makes the others).
func (p *Pipeline) codec(t *schema.Table) (*schema.Codec, error) {
	return schema.NewCodec(TableTopic(p.o.Name, t.ID), t, schema.CodecOptions{
		Kind: p.o.Kind, Name: p.o.Name, Exclude: p.o.ExcludeColumns[t.ID.String()],
		AvroLogicalTypes: p.o.AvroLogicalTypes, Connector: p.o.Connector,
	})
}

// output creates codec's topic and registers its key and value schemas,
// concurrently, and returns the schemas' ids (keyID 0: the table has no
// key). Topics and Registry share a request made for the same topic or
// schema by another goroutine, and cache what is done.
func (p *Pipeline) output(ctx context.Context, codec *schema.Codec) (keyID, valueID int, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return p.topics.Ensure(gctx, emit.TopicSpec{Name: codec.Topic, Partitions: p.o.Partitions, ReplicationFactor: p.o.Replication})
	})
	if codec.KeySchema != "" {
		g.Go(func() (err error) {
			keyID, err = p.reg.Register(gctx, codec.Topic+"-key", codec.KeySchema)
			return err
		})
	}
	g.Go(func() (err error) {
		valueID, err = p.reg.Register(gctx, codec.Topic+"-value", codec.ValueSchema)
		return err
	})
	err = g.Wait()
	return keyID, valueID, err
}

// Prepare starts making the output of table version t ready and returns at
// once (snapshot.Preparer). It reports nothing: the first event of t makes
// the output on the source's goroutine as always, waiting for what is
// still under way here, and reports any error then. It is safe to call
// from any goroutine.
func (p *Pipeline) Prepare(ctx context.Context, t *schema.Table) {
	if codec := p.untransformedCodec(t); codec != nil {
		go func() { _, _, _ = p.output(ctx, codec) }()
	}
}

// untransformedCodec returns the encoder of the change events of table
// version t, nil when a transform applies to it or its mapping fails
// (the source's goroutine reports that at its first event). It is safe to
// call from any goroutine: it reads only the options.
func (p *Pipeline) untransformedCodec(t *schema.Table) *schema.Codec {
	if p.o.Transforms != nil {
		if plan, err := p.o.Transforms.For(t, p.o.ExcludeColumns[t.ID.String()]); err != nil || plan != nil {
			return nil
		}
	}
	codec, err := p.codec(t)
	if err != nil {
		return nil
	}
	return codec
}
