package pipeline

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// SchemaChangeTopic is the topic of a connector's schema-change events
// (DDL), as Debezium names it: the connector name itself.
func SchemaChangeTopic(name string) string { return name }

// schemaChanges emits DDL statements to the schema-change topic.
type schemaChanges struct {
	codec   *schema.SchemaChangeCodec
	keyID   int
	valueID int
}

// emitSchemaChange produces a Debezium schema-change event for a DDL
// statement. The record goes into the same batch (in exactly-once mode,
// the same Kafka transaction) as the schema-history record and the
// checkpoint that follows the DDL, so the three become visible together
// [I2, I6].
func (p *Pipeline) emitSchemaChange(ctx context.Context, sc *capture.SchemaChange) error {
	if p.ddl == nil {
		topic := SchemaChangeTopic(p.o.Name)
		connector := p.o.Connector // schema-change events are MySQL's and MariaDB's
		if connector == "" {
			connector = schema.MySQL.Connector()
		}
		codec, err := schema.NewMySQLSchemaChangeCodec(topic, p.o.Name, connector)
		if err != nil {
			return err
		}
		if err := p.topics.Ensure(ctx, emit.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: p.o.Replication}); err != nil {
			return err
		}
		st := &schemaChanges{codec: codec}
		if st.keyID, err = p.reg.Register(ctx, topic+"-key", codec.KeySchema); err != nil {
			return err
		}
		if st.valueID, err = p.reg.Register(ctx, topic+"-value", codec.ValueSchema); err != nil {
			return err
		}
		p.ddl = st
	}
	c := p.ddl.codec
	key := c.AppendKey(schema.AppendWireHeader(nil, p.ddl.keyID), sc.Database)
	val, err := c.AppendValue(schema.AppendWireHeader(make([]byte, 0, 256), p.ddl.valueID), &schema.SchemaChangeEvent{
		Database: sc.Database, DDL: sc.DDL, TsMs: time.Now().UnixMilli(),
		Source: &schema.SourceInfo{TsMs: sc.TsMs, DB: sc.Database, File: sc.Position.File, Pos: int64(sc.Position.Pos)},
	})
	if err != nil {
		return err
	}
	if err := p.prod.Produce(ctx, &kgo.Record{Topic: c.Topic, Key: key, Value: val}); err != nil {
		return err
	}
	p.pending++
	return nil
}
