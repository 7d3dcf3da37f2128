package changes

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/schema"
)

// sluiceTopic encodes records of one table exactly as Sluice does: the
// schema package's Codec, schemas registered in an in-process registry.
type sluiceTopic struct {
	codec        *schema.Codec
	keyID, valID int
}

// newRegistry starts an in-process registry and returns it with a
// client of the schema package (to register) and of franz-go (to read).
func newRegistry(t testing.TB) (*srfake.Registry, *schema.Registry, *sr.Client) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return fake, reg, cl
}

// newSluiceTopic builds the Codec of table for topic and registers its
// schemas; withoutLogical registers them without any logicalType, as the
// Debezium-default schemas (only Decimal keeps one) will be.
func newSluiceTopic(t testing.TB, reg *schema.Registry, topic string, tbl *schema.Table, kind schema.SourceKind, withoutLogical bool) *sluiceTopic {
	t.Helper()
	c, err := schema.NewCodec(topic, tbl, schema.CodecOptions{Kind: kind, Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	key, val := c.KeySchema, c.ValueSchema
	subj := topic
	if withoutLogical {
		key, val, subj = dropLogical(t, key), dropLogical(t, val), topic+".nological"
	}
	st := &sluiceTopic{codec: c}
	ctx := context.Background()
	if key != "" {
		if st.keyID, err = reg.Register(ctx, subj+"-key", key); err != nil {
			t.Fatal(err)
		}
	}
	if st.valID, err = reg.Register(ctx, subj+"-value", val); err != nil {
		t.Fatal(err)
	}
	return st
}

// dropLogical removes every logicalType but decimal's.
func dropLogical(t testing.TB, s string) string {
	if s == "" {
		return ""
	}
	var tree any
	if err := json.Unmarshal([]byte(s), &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(x any) {
		switch v := x.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if v["logicalType"] != nil && v["logicalType"] != "decimal" {
				delete(v, "logicalType")
			}
			for k, e := range v {
				if k != "default" {
					walk(e)
				}
			}
		}
	}
	walk(tree)
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// record encodes one change event (and its key from the row holding the
// key columns) as a Kafka record of the topic.
func (st *sluiceTopic) record(t testing.TB, op byte, before, after []any, src *schema.SourceInfo) *kgo.Record {
	t.Helper()
	r := &kgo.Record{Topic: st.codec.Topic}
	row := after
	if row == nil {
		row = before
	}
	var err error
	if st.codec.HasKey() {
		if r.Key, err = st.codec.AppendKey(schema.AppendWireHeader(nil, st.keyID), row); err != nil {
			t.Fatal(err)
		}
	}
	if src == nil {
		src = &schema.SourceInfo{TsMs: 1700000000000, DB: "app", TxID: 700, LSN: 12345}
	}
	if r.Value, err = st.codec.AppendValue(schema.AppendWireHeader(nil, st.valID), &schema.Event{Op: op, Before: before, After: after, Source: src, TsMs: 1700000000500}); err != nil {
		t.Fatal(err)
	}
	return r
}

// tombstone is the null-valued record Sluice writes after a delete.
func (st *sluiceTopic) tombstone(t testing.TB, row []any) *kgo.Record {
	t.Helper()
	key, err := st.codec.AppendKey(schema.AppendWireHeader(nil, st.keyID), row)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: st.codec.Topic, Key: key}
}
