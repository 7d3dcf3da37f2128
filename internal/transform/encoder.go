package transform

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// Encoder turns the changes of one table version into records under its
// plan. It is used on the pipeline's goroutine only (see the package
// doc).
type Encoder struct {
	chain  *Chain
	plan   *Plan
	codec  *schema.Codec
	reg    Registrar
	ensure EnsureTopic
	topics map[string]*topicState // by topic (or, for the outbox, routed value)
}

// topicState is a topic the encoder writes to, created and with its
// schemas registered.
type topicState struct {
	topic          string
	keyID, valueID int
	hasKey         bool
}

// Encode returns the records of c, in order: none (the configuration
// drops it), one, or a value and its tombstone (tombstones is
// kafka.tombstones). Each record's timestamp is now, as the envelope's
// ts_ms would be. txn is the envelope's transaction block (nil: none);
// unwrapped and outbox records have no envelope to carry it.
func (e *Encoder) Encode(ctx context.Context, c *capture.Change, now time.Time, tombstones bool, txn *schema.TxnBlock) ([]*kgo.Record, error) {
	p := e.plan
	before, after := p.maskRow(c.Before), p.maskRow(c.After)
	switch p.Shape {
	case Unwrap:
		return e.unwrap(ctx, c, before, after, now, tombstones)
	case Outbox:
		return e.outbox(ctx, c, after, now)
	}
	ts, err := e.tableTopic(ctx, func() string { return e.codec.ValueSchema })
	if err != nil {
		return nil, err
	}
	key, err := e.key(ts, before, after)
	if err != nil {
		return nil, err
	}
	val := schema.AppendWireHeader(nil, ts.valueID)
	if val, err = e.codec.AppendValue(val, &schema.Event{Op: byte(c.Op), Before: before, After: after, Source: &c.Source, TsMs: now.UnixMilli(), TsUs: now.UnixMicro(), Txn: txn}); err != nil {
		return nil, err
	}
	recs := []*kgo.Record{{Topic: ts.topic, Key: key, Value: val, Timestamp: now}}
	if c.Op == capture.OpDelete && tombstones && key != nil {
		recs = append(recs, &kgo.Record{Topic: ts.topic, Key: key, Timestamp: now})
	}
	return recs, nil
}

// tableTopic returns the table's own change topic, its schemas
// registered (the key's as the envelope's, the value's as valueSchema
// builds it, once).
func (e *Encoder) tableTopic(ctx context.Context, valueSchema func() string) (*topicState, error) {
	if ts := e.topics[""]; ts != nil {
		return ts, nil
	}
	return e.register(ctx, "", e.codec.Topic, e.codec.KeySchema, valueSchema())
}

// register creates topic and registers its schemas (no key schema: null
// keys), remembering them under name.
func (e *Encoder) register(ctx context.Context, name, topic, keySchema, valueSchema string) (*topicState, error) {
	if err := e.ensure(ctx, topic); err != nil {
		return nil, err
	}
	ts := &topicState{topic: topic, hasKey: keySchema != ""}
	var err error
	if ts.hasKey {
		if ts.keyID, err = e.reg.Register(ctx, topic+"-key", keySchema); err != nil {
			return nil, err
		}
	}
	if ts.valueID, err = e.reg.Register(ctx, topic+"-value", valueSchema); err != nil {
		return nil, err
	}
	e.topics[name] = ts
	return ts, nil
}

// key encodes the table key of the change's row, or nil when the table
// has none.
func (e *Encoder) key(ts *topicState, before, after []any) ([]byte, error) {
	if !ts.hasKey {
		return nil, nil
	}
	row := after
	if row == nil {
		row = before
	}
	if row == nil {
		return nil, nil
	}
	return e.codec.AppendKey(schema.AppendWireHeader(nil, ts.keyID), row)
}

// unwrap is Debezium's ExtractNewRecordState: the value is the new row
// state; deletes, tombstones and truncates as configured.
func (e *Encoder) unwrap(ctx context.Context, c *capture.Change, before, after []any, now time.Time, tombstones bool) ([]*kgo.Record, error) {
	u := e.plan.unwrap
	if c.Op == capture.OpTruncate {
		return nil, nil // as Debezium: a truncate has no row state
	}
	ts, err := e.tableTopic(ctx, func() string { return u.valueSchema(e.codec) })
	if err != nil {
		return nil, err
	}
	key, err := e.key(ts, before, after)
	if err != nil {
		return nil, err
	}
	x := &extract{op: byte(c.Op), tsMs: now.UnixMilli(), connector: e.codec.Connector(), name: e.chain.name, table: e.codec.Table.ID, src: &c.Source}
	var recs []*kgo.Record
	switch {
	case c.Op != capture.OpDelete:
		val, err := u.appendValue(schema.AppendWireHeader(nil, ts.valueID), e.codec, after, x, false)
		if err != nil {
			return nil, err
		}
		return []*kgo.Record{{Topic: ts.topic, Key: key, Value: val, Timestamp: now}}, nil
	case u.deletes == "rewrite":
		val, err := u.appendValue(schema.AppendWireHeader(nil, ts.valueID), e.codec, before, x, true)
		if err != nil {
			return nil, err
		}
		recs = append(recs, &kgo.Record{Topic: ts.topic, Key: key, Value: val, Timestamp: now})
	case u.deletes == "none":
		// The delete itself becomes a record with a null value.
		recs = append(recs, &kgo.Record{Topic: ts.topic, Key: key, Timestamp: now})
	}
	if tombstones && !u.dropTombstones && key != nil {
		recs = append(recs, &kgo.Record{Topic: ts.topic, Key: key, Timestamp: now})
	}
	return recs, nil
}

// outbox is Debezium's EventRouter: a new outbox row becomes an event on
// the topic its routing column names, keyed by its key column, with the
// payload as value and the event id and type as headers.
func (e *Encoder) outbox(ctx context.Context, c *capture.Change, after []any, now time.Time) ([]*kgo.Record, error) {
	o := e.plan.outbox
	t := e.codec.Table
	switch c.Op {
	case capture.OpDelete, capture.OpTruncate:
		return nil, nil // cleaning up the outbox table emits nothing, as in Debezium
	case capture.OpUpdate:
		if o.failOnUpd {
			return nil, fmt.Errorf("outbox table %s: a row was updated (transaction %d, lsn %d); outbox rows are only inserted (and deleted). "+
				"fix: stop updating outbox rows, or set %s.on_update: warn to skip updates",
				t.ID, c.Source.TxID, c.Source.LSN, "transforms["+fmt.Sprint(o.entry)+"]")
		}
		e.chain.log.Warn("outbox row update skipped: outbox rows are only inserted (on_update: warn)", "table", t.ID.String(),
			"id", string(headerText(after[t.Column(o.id)])))
		return nil, nil
	}
	routedRaw := after[t.Column(o.routeBy)]
	if routedRaw == nil || routedRaw == schema.Unchanged {
		return nil, fmt.Errorf("outbox table %s: row with %s %s has no %s, so it has no topic; fix: write %s in every outbox row",
			t.ID, o.id, headerText(after[t.Column(o.id)]), o.routeBy, o.routeBy)
	}
	routed := string(valueText(routedRaw))
	ts := e.topics[routed]
	if ts == nil {
		topic, err := o.topicFor(routed)
		if err != nil {
			return nil, err
		}
		if ts, err = e.register(ctx, routed, topic, o.keySchema(e.codec), o.valueSchema(e.codec, routed)); err != nil {
			return nil, err
		}
	}
	var key []byte
	if k := after[t.Column(o.key)]; k != nil {
		// A NULL key is a null Kafka key, as the AvroConverter writes
		// a null of an optional schema.
		var err error
		if key, err = e.codec.AppendColumn(schema.AppendWireHeader(nil, ts.keyID), o.key, k); err != nil {
			return nil, err
		}
	}
	var err error
	payload := after[t.Column(o.payload)]
	var val []byte
	switch {
	case len(o.envelope) > 0:
		val = schema.AppendWireHeader(nil, ts.valueID)
		if val, err = e.codec.AppendColumn(val, o.payload, payload); err != nil {
			return nil, err
		}
		for _, p := range o.envelope {
			if val, err = e.codec.AppendColumn(val, p.column, after[t.Column(p.column)]); err != nil {
				return nil, err
			}
		}
	case payload != nil:
		// A nullable payload's schema is a union with null; a NULL
		// payload is a null value, as Confluent's AvroConverter writes
		// a null of an optional schema.
		val = schema.AppendWireHeader(nil, ts.valueID)
		if val, err = e.codec.AppendColumn(val, o.payload, payload); err != nil {
			return nil, err
		}
	}
	headers := []kgo.RecordHeader{{Key: "id", Value: headerText(after[t.Column(o.id)])}, {Key: "type", Value: headerText(after[t.Column(o.typ)])}}
	for _, p := range o.headers {
		headers = append(headers, kgo.RecordHeader{Key: p.alias, Value: headerText(after[t.Column(p.column)])})
	}
	return []*kgo.Record{{Topic: ts.topic, Key: key, Value: val, Headers: headers, Timestamp: now}}, nil
}
