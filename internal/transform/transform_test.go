package transform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

func customers() *schema.Table {
	return &schema.Table{
		ID: schema.TableID{Namespace: "public", Name: "customers"},
		Columns: []schema.Column{
			{Name: "id", Type: "int4", OID: 23},
			{Name: "email", Type: "varchar", OID: 1043, TypeMod: 255 + 4, Nullable: true},
			{Name: "code", Type: "bpchar", OID: 1042, TypeMod: 8 + 4, Nullable: true},
			{Name: "ssn", Type: "text", OID: 25},
		},
		Key: []int{0},
	}
}

func outboxTable() *schema.Table {
	return &schema.Table{
		ID: schema.TableID{Namespace: "public", Name: "outbox"},
		Columns: []schema.Column{
			{Name: "id", Type: "uuid", OID: 2950},
			{Name: "aggregatetype", Type: "varchar", OID: 1043},
			{Name: "aggregateid", Type: "varchar", OID: 1043},
			{Name: "type", Type: "varchar", OID: 1043},
			{Name: "payload", Type: "jsonb", OID: 3802, Nullable: true},
		},
		Key: []int{0},
	}
}

func chain(t *testing.T, ts ...config.Transform) *Chain {
	t.Helper()
	c, err := New(ts, schema.Postgres, "inv", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMaskHash pins the hash to Debezium's column.mask.hash.v2: the
// lower-case hex SHA-256 of salt and value (sha256sum of the two
// concatenated), cut to a shorter declared length.
func TestMaskHash(t *testing.T) {
	c := chain(t, config.Transform{Type: "mask", Columns: []string{"public.customers.email", "public.customers.code"}, With: "sha256", Salt: "CzQMA0cB5K"})
	p, err := c.For(customers(), nil)
	if err != nil {
		t.Fatal(err)
	}
	row := p.maskRow([]any{[]byte("1"), []byte("sally.thomas@acme.com"), []byte("AB"), []byte("x")})
	if got, want := row[1], "57671fbf59a9f9d66c361b2aff7a34102169b32c7819c1c9daccb677d806f99d"; got != want {
		t.Errorf("hash = %v, want %s", got, want)
	}
	if s, _ := row[2].(string); len(s) != 8 {
		t.Errorf("hash of a char(8) column = %q, want 8 characters as Debezium cuts it", s)
	}
	if row2 := p.maskRow([]any{[]byte("1"), nil, schema.Unchanged, []byte("x")}); row2[1] != nil || row2[2] != schema.Unchanged {
		t.Errorf("NULL and an unsent value must stay as they are, got %v", row2)
	}
}

// TestPlanConfigErrors: what the configuration gets wrong about a table's
// columns is a *config.Error naming the key.
func TestPlanConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		tf      config.Transform
		table   *schema.Table
		exclude map[string]bool
		key     string
	}{
		{"masked key column", config.Transform{Type: "mask", Columns: []string{"public.customers.id"}, With: "***"}, customers(), nil, "transforms[0].columns"},
		{"masked column missing", config.Transform{Type: "mask", Columns: []string{"public.customers.Email"}, With: "***"}, customers(), nil, "transforms[0].columns"},
		{"outbox column missing", outboxCfg(func(o *config.Transform) { o.PayloadColumn = "body" }), outboxTable(), nil, "transforms[0].payload_column"},
		{"outbox column excluded", outboxCfg(nil), outboxTable(), map[string]bool{"type": true}, "transforms[0].type_column"},
		{"placement column missing", outboxCfg(func(o *config.Transform) { o.AdditionalPlacement = []string{"tenant:header"} }), outboxTable(), nil, "transforms[0].additional_placement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chain(t, tt.tf).For(tt.table, tt.exclude)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Fatalf("err = %v, want a *config.Error of %s", err, tt.key)
			}
		})
	}
}

func outboxCfg(f func(*config.Transform)) config.Transform {
	o := config.Transform{Type: "outbox", Table: "public.outbox", IDColumn: "id", KeyColumn: "aggregateid", TypeColumn: "type",
		PayloadColumn: "payload", RouteByColumn: "aggregatetype", Topic: config.DefaultOutboxTopic, OnUpdate: "warn"}
	if f != nil {
		f(&o)
	}
	return o
}

type fakeRegistry struct{ schemas map[int]string }

func (f *fakeRegistry) Register(_ context.Context, _ string, s string) (int, error) {
	id := len(f.schemas) + 1
	f.schemas[id] = s
	return id, nil
}

func newEncoder(t *testing.T, c *Chain, table *schema.Table) (*Encoder, *fakeRegistry, *[]string) {
	t.Helper()
	p, err := c.For(table, nil)
	if err != nil || p == nil {
		t.Fatalf("plan: %v, %v", p, err)
	}
	codec, err := schema.NewCodec("inv.public."+table.ID.Name, p.Table, schema.CodecOptions{Kind: schema.Postgres, Name: "inv", Override: p.Override})
	if err != nil {
		t.Fatal(err)
	}
	reg := &fakeRegistry{schemas: map[int]string{}}
	var topics []string
	ensure := func(_ context.Context, topic string) error { topics = append(topics, topic); return nil }
	return c.NewEncoder(p, codec, reg, ensure), reg, &topics
}

// decode decodes a Confluent-framed record with goavro against the
// schema registered for its id.
func decode(t *testing.T, reg *fakeRegistry, b []byte) any {
	t.Helper()
	if b == nil {
		return nil
	}
	id, payload, err := schema.ParseWireHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := goavro.NewCodec(reg.schemas[id])
	if err != nil {
		t.Fatalf("schema %s: %v", reg.schemas[id], err)
	}
	v, rest, err := c.NativeFromBinary(payload)
	if err != nil || len(rest) != 0 {
		t.Fatalf("decoding against %s: %v (%d bytes left)", reg.schemas[id], err, len(rest))
	}
	return v
}

func TestOutboxRecords(t *testing.T) {
	e, reg, topics := newEncoder(t, chain(t, outboxCfg(nil)), outboxTable())
	row := []any{[]byte("406c07f3-26f0-4eea-a50c-109940064b8f"), []byte("Order"), []byte("1"), []byte("OrderCreated"), []byte(`{"id": 1}`)}
	ctx := context.Background()
	recs, err := e.Encode(ctx, &capture.Change{Op: capture.OpCreate, Table: outboxTable(), After: row}, time.Now(), true, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v, err %v", recs, err)
	}
	r := recs[0]
	if r.Topic != "outbox.event.Order" || len(*topics) != 1 || (*topics)[0] != "outbox.event.Order" {
		t.Errorf("topic %s, created %v", r.Topic, *topics)
	}
	if k := decode(t, reg, r.Key); !equalUnion(k, "1") {
		t.Errorf("key %v", k)
	}
	if v := decode(t, reg, r.Value); !equalUnion(v, `{"id": 1}`) {
		t.Errorf("value %v", v)
	}
	want := []kgo.RecordHeader{{Key: "id", Value: []byte("406c07f3-26f0-4eea-a50c-109940064b8f")}, {Key: "type", Value: []byte("OrderCreated")}}
	if len(r.Headers) != 2 || string(r.Headers[0].Value) != string(want[0].Value) || string(r.Headers[1].Value) != string(want[1].Value) {
		t.Errorf("headers %v", r.Headers)
	}
	for _, op := range []capture.Op{capture.OpDelete, capture.OpUpdate, capture.OpTruncate} {
		recs, err := e.Encode(ctx, &capture.Change{Op: op, Table: outboxTable(), Before: row, After: row}, time.Now(), true, nil)
		if err != nil || len(recs) != 0 {
			t.Errorf("op %s: records %v, err %v; want none (ignored as in Debezium)", op, recs, err)
		}
	}
	bad := append([]any(nil), row...)
	bad[1] = []byte("no spaces allowed")
	if _, err := e.Encode(ctx, &capture.Change{Op: capture.OpCreate, Table: outboxTable(), After: bad}, time.Now(), true, nil); err == nil {
		t.Errorf("a routing value that makes no topic name was accepted")
	}
}

// equalUnion compares a goavro value, unwrapping a union, with want.
func equalUnion(v any, want string) bool {
	if m, ok := v.(map[string]any); ok {
		for _, x := range m {
			v = x
		}
	}
	s, _ := v.(string)
	return s == want
}

func TestUnwrapRecords(t *testing.T) {
	c := chain(t, config.Transform{Type: "unwrap", Tables: []string{"public.*"}, AddFields: []string{"op", "table", "source.ts_ms"}, DeleteHandling: "rewrite"})
	e, reg, _ := newEncoder(t, c, customers())
	row := []any{[]byte("1"), []byte("a@b"), nil, []byte("x")}
	src := schema.SourceInfo{TsMs: 1700000000000}
	recs, err := e.Encode(context.Background(), &capture.Change{Op: capture.OpDelete, Table: customers(), Before: row, Source: src}, time.Now(), true, nil)
	if err != nil || len(recs) != 2 {
		t.Fatalf("records %v, err %v; want the rewritten delete and its tombstone", recs, err)
	}
	v, _ := decode(t, reg, recs[0].Value).(map[string]any)
	if v["__op"].(map[string]any)["string"] != "d" || v["__table"].(map[string]any)["string"] != "customers" ||
		v["__source_ts_ms"].(map[string]any)["long"] != int64(1700000000000) || v["__deleted"].(map[string]any)["string"] != "true" {
		t.Errorf("value %v", v)
	}
	if recs[1].Value != nil {
		t.Errorf("second record is not a tombstone")
	}
}

// TestOutboxEnvelopePlacement: with an envelope placement the value is a
// record of the payload and the placed columns, named as Debezium names
// it; a header placement adds a header under its alias.
func TestOutboxEnvelopePlacement(t *testing.T) {
	cfg := outboxCfg(func(o *config.Transform) {
		o.AdditionalPlacement = []string{"type:envelope:eventType", "aggregateid:header:agg"}
	})
	e, reg, _ := newEncoder(t, chain(t, cfg), outboxTable())
	row := []any{[]byte("406c07f3-26f0-4eea-a50c-109940064b8f"), []byte("Order"), []byte("1"), []byte("OrderCreated"), nil}
	recs, err := e.Encode(context.Background(), &capture.Change{Op: capture.OpRead, Table: outboxTable(), After: row}, time.Now(), true, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v, err %v", recs, err)
	}
	v, _ := decode(t, reg, recs[0].Value).(map[string]any)
	if v["payload"] != nil || v["eventType"] != "OrderCreated" {
		t.Errorf("value %v", v)
	}
	for id, s := range reg.schemas {
		if strings.Contains(s, `"payload"`) && !strings.Contains(s, `"connect.name":"inv.public.outbox.Order.Value"`) {
			t.Errorf("schema %d: %s; want the record named inv.public.outbox.Order.Value", id, s)
		}
	}
	if h := recs[0].Headers; len(h) != 3 || h[2].Key != "agg" || string(h[2].Value) != "1" {
		t.Errorf("headers %v", h)
	}
}

// TestUnwrapDeletes: what a delete becomes under each delete_handling and
// drop_tombstones, as ExtractNewRecordState's delete.handling.mode and
// drop.tombstones; and a truncate, which it drops.
func TestUnwrapDeletes(t *testing.T) {
	tests := []struct {
		mode           string
		dropTombstones bool
		tombstones     bool // kafka.tombstones
		want           []string
	}{
		{"drop", false, true, []string{"tombstone"}},
		{"drop", true, true, nil},
		{"drop", false, false, nil},
		{"rewrite", false, true, []string{"value", "tombstone"}},
		{"rewrite", true, true, []string{"value"}},
		{"none", false, true, []string{"tombstone", "tombstone"}},
		{"none", true, true, []string{"tombstone"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/drop_tombstones=%v/tombstones=%v", tt.mode, tt.dropTombstones, tt.tombstones), func(t *testing.T) {
			c := chain(t, config.Transform{Type: "unwrap", Tables: []string{"public.customers"}, DeleteHandling: tt.mode, DropTombstones: tt.dropTombstones})
			e, _, _ := newEncoder(t, c, customers())
			row := []any{[]byte("1"), []byte("a@b"), nil, []byte("x")}
			recs, err := e.Encode(context.Background(), &capture.Change{Op: capture.OpDelete, Table: customers(), Before: row}, time.Now(), tt.tombstones, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				if r.Key == nil {
					t.Errorf("record without key")
				}
				if r.Value == nil {
					got = append(got, "tombstone")
				} else {
					got = append(got, "value")
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("records %v, want %v", got, tt.want)
			}
		})
	}
	c := chain(t, config.Transform{Type: "unwrap", Tables: []string{"public.customers"}, DeleteHandling: "none"})
	e, _, _ := newEncoder(t, c, customers())
	if recs, err := e.Encode(context.Background(), &capture.Change{Op: capture.OpTruncate, Table: customers()}, time.Now(), true, nil); err != nil || len(recs) != 0 {
		t.Errorf("truncate: %d records, err %v; want none", len(recs), err)
	}
}
