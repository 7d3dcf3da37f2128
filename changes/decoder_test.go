package changes

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicecdc/sluice/schema"
)

func pgNumericMod(p, s int) int32 { return int32((p<<16)|(s&0x7ff)) + 4 }

// pgTypeCases are Postgres columns, the text Postgres sends for a value,
// and the Go value the package doc promises for it.
var pgTypeCases = []struct {
	col  schema.Column
	in   any
	want any
}{
	{schema.Column{Type: "int2", TypeMod: -1}, "-5", int16(-5)},
	{schema.Column{Type: "int4", TypeMod: -1}, "42", int32(42)},
	{schema.Column{Type: "int8", TypeMod: -1}, "-9000000000", int64(-9000000000)},
	{schema.Column{Type: "bool", TypeMod: -1}, "t", true},
	{schema.Column{Type: "float4", TypeMod: -1}, "0.5", float32(0.5)},
	{schema.Column{Type: "float8", TypeMod: -1}, "1.5", 1.5},
	{schema.Column{Type: "numeric", TypeMod: pgNumericMod(10, 2)}, "19.99", big.NewRat(1999, 100)},
	{schema.Column{Type: "numeric", TypeMod: pgNumericMod(10, 2)}, "-0.05", big.NewRat(-5, 100)},
	{schema.Column{Type: "numeric", TypeMod: -1}, "-1.005", big.NewRat(-1005, 1000)},
	{schema.Column{Type: "numeric", TypeMod: -1}, "123456789012345678901234567890", new(big.Rat).SetFrac(mustInt("123456789012345678901234567890"), big.NewInt(1))},
	{schema.Column{Type: "text", TypeMod: -1}, "hello", "hello"},
	{schema.Column{Type: "jsonb", TypeMod: -1}, `{"a": [1, 2]}`, json.RawMessage(`{"a": [1, 2]}`)},
	{schema.Column{Type: "json", TypeMod: -1}, `"x"`, json.RawMessage(`"x"`)},
	{schema.Column{Type: "xml", TypeMod: -1}, `<a/>`, `<a/>`},
	{schema.Column{Type: "uuid", TypeMod: -1}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	{schema.Column{Type: "bytea", TypeMod: -1}, `\x00ff`, []byte{0, 0xff}},
	{schema.Column{Type: "date", TypeMod: -1}, "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	{schema.Column{Type: "date", TypeMod: -1}, "1969-12-31", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
	{schema.Column{Type: "date", TypeMod: -1}, "infinity", PositiveInfinity},
	{schema.Column{Type: "date", TypeMod: -1}, "-infinity", NegativeInfinity},
	{schema.Column{Type: "timestamp", TypeMod: -1}, "2024-01-02 03:04:05.123456", time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)},
	{schema.Column{Type: "timestamp", TypeMod: 3}, "2024-01-02 03:04:05.123", time.Date(2024, 1, 2, 3, 4, 5, 123000000, time.UTC)},
	{schema.Column{Type: "timestamp", TypeMod: -1}, "infinity", PositiveInfinity},
	{schema.Column{Type: "timestamp", TypeMod: 3}, "-infinity", NegativeInfinity},
	{schema.Column{Type: "timestamptz", TypeMod: -1}, "2024-01-02 03:04:05.5+02", time.Date(2024, 1, 2, 1, 4, 5, 500000000, time.UTC)},
	{schema.Column{Type: "timestamptz", TypeMod: -1}, "0044-03-15 12:00:00+00 BC", time.Date(-43, 3, 15, 12, 0, 0, 0, time.UTC)},
	{schema.Column{Type: "timestamptz", TypeMod: -1}, "infinity", PositiveInfinity},
	{schema.Column{Type: "timestamptz", TypeMod: -1}, "-infinity", NegativeInfinity},
	{schema.Column{Type: "time", TypeMod: -1}, "10:15:30.25", 10*time.Hour + 15*time.Minute + 30250*time.Millisecond},
	{schema.Column{Type: "time", TypeMod: 3}, "10:15:30.25", 10*time.Hour + 15*time.Minute + 30250*time.Millisecond},
	{schema.Column{Type: "timetz", TypeMod: -1}, "10:15:30+02", "10:15:30+02:00"},
	{schema.Column{Type: "interval", TypeMod: -1}, "P1Y2M3DT4H5M6S", "P1Y2M3DT4H5M6S"},
	{schema.Column{Type: "point", TypeMod: -1}, "(1.5,-2)", Point{X: 1.5, Y: -2}},
	{schema.Column{Type: "_text", TypeMod: -1}, `{a,NULL,"b c"}`, []any{"a", nil, "b c"}},
	{schema.Column{Type: "_int4", TypeMod: -1}, `{1,2}`, []any{int32(1), int32(2)}},
	{schema.Column{Type: "mood", Kind: "e", TypeMod: -1, Enum: []string{"sad", "ok"}}, "ok", "ok"},
	{schema.Column{Type: "bit", TypeMod: 10}, "1000000001", []byte{1, 2}},
	{schema.Column{Type: "text", TypeMod: -1}, nil, nil},
	{schema.Column{Type: "text", TypeMod: -1}, schema.Unchanged, Unavailable},
	{schema.Column{Type: "bytea", TypeMod: -1}, schema.Unchanged, Unavailable},
	{schema.Column{Type: "_text", TypeMod: -1}, schema.Unchanged, Unavailable},
}

func mustInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

// pgTypesTable is a table with one nullable column per case, keyed by id.
func pgTypesTable() (*schema.Table, []any) {
	tbl := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "types"}, Key: []int{0},
		Columns: []schema.Column{{Name: "id", Type: "int8", TypeMod: -1}}}
	row := []any{[]byte("7")}
	for i, c := range pgTypeCases {
		c.col.Name = colName(i)
		c.col.Nullable = true
		tbl.Columns = append(tbl.Columns, c.col)
		switch v := c.in.(type) {
		case string:
			row = append(row, []byte(v))
		default:
			row = append(row, v)
		}
	}
	return tbl, row
}

func colName(i int) string { return "c" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// same compares decoded values: decimals by value, times as instants,
// points by coordinates.
func same(got, want any) bool {
	switch w := want.(type) {
	case *big.Rat:
		g, ok := got.(*big.Rat)
		return ok && g.Cmp(w) == 0
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w) && g.Location() == time.UTC
	case Point:
		g, ok := got.(Point)
		return ok && g.X == w.X && g.Y == w.Y && len(g.WKB) == 21 && g.SRID == nil
	}
	return reflect.DeepEqual(got, want)
}

// TestDecodeTypes decodes a row of every Postgres type, encoded by
// Sluice's codec, and checks each Go value; once with the schemas as
// Sluice registers them today and once without logical types (the
// Debezium-default schemas): both decode alike, by connect.name.
func TestDecodeTypes(t *testing.T) {
	for _, noLogical := range []bool{false, true} {
		_, reg, cl := newRegistry(t)
		tbl, row := pgTypesTable()
		st := newSluiceTopic(t, reg, "demo.public.types", tbl, schema.Postgres, noLogical)
		rec := st.record(t, 'c', nil, row, nil)
		rec.Partition, rec.Offset = 0, 3
		ev, err := NewDecoder(cl).Decode(context.Background(), rec)
		if err != nil {
			t.Fatalf("noLogical=%v: %v", noLogical, err)
		}
		if ev.Kind != KindChange || ev.Op != Create || ev.Before != nil || ev.Record != rec {
			t.Fatalf("noLogical=%v: kind %v op %v before %v", noLogical, ev.Kind, ev.Op, ev.Before)
		}
		if !reflect.DeepEqual(ev.Key, map[string]any{"id": int64(7)}) {
			t.Errorf("key %#v", ev.Key)
		}
		if ev.After["id"] != int64(7) {
			t.Errorf("after.id = %#v", ev.After["id"])
		}
		for i, c := range pgTypeCases {
			if got := ev.After[colName(i)]; !same(got, c.want) {
				t.Errorf("noLogical=%v: %s %q: got %#v (%T), want %#v (%T)", noLogical, c.col.Type, c.in, got, got, c.want, c.want)
			}
		}
		if ev.KeySchemaID != st.keyID || ev.ValueSchemaID != st.valID {
			t.Errorf("schema ids %d/%d, want %d/%d", ev.KeySchemaID, ev.ValueSchemaID, st.keyID, st.valID)
		}
		s := ev.Source
		if s.Connector != "postgres" && s.Connector != "postgresql" || s.Name != "demo" || s.DB != "app" || s.Schema != "public" ||
			s.Table != "types" || s.TxID != 700 || s.LSN != 12345 || s.TsMs != 1700000000000 || s.IsSnapshot() {
			t.Errorf("source %+v", s)
		}
		if ev.TsMs != 1700000000500 || ev.Transaction != nil {
			t.Errorf("ts_ms %d transaction %v", ev.TsMs, ev.Transaction)
		}
	}
}

// TestDecodeOps covers update, delete, snapshot read, the tombstone
// after a delete and a keyless table.
func TestDecodeOps(t *testing.T) {
	_, reg, cl := newRegistry(t)
	tbl := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "t"}, Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "int4", TypeMod: -1}, {Name: "v", Type: "text", TypeMod: -1, Nullable: true},
	}}
	st := newSluiceTopic(t, reg, "demo.public.t", tbl, schema.Postgres, false)
	dec := NewDecoder(cl)
	ctx := context.Background()
	old, cur := []any{[]byte("1"), []byte("a")}, []any{[]byte("1"), []byte("b")}

	ev, err := dec.Decode(ctx, st.record(t, 'u', old, cur, nil))
	if err != nil || ev.Op != Update || ev.Before["v"] != "a" || ev.After["v"] != "b" || ev.Image()["v"] != "b" {
		t.Fatalf("update: %v %+v", err, ev)
	}
	ev, err = dec.Decode(ctx, st.record(t, 'd', []any{[]byte("1"), nil}, nil, nil))
	if err != nil || ev.Op != Delete || ev.After != nil || ev.Before["id"] != int32(1) || ev.Image()["id"] != int32(1) {
		t.Fatalf("delete: %v %+v", err, ev)
	}
	if err := ev.DecodeAfter(&struct{}{}); !errors.Is(err, ErrNoImage) {
		t.Errorf("DecodeAfter of a delete: %v, want ErrNoImage", err)
	}
	ev, err = dec.Decode(ctx, st.tombstone(t, old))
	if err != nil || ev.Kind != KindTombstone || ev.Op != 0 || ev.Key["id"] != int32(1) || ev.Image() != nil {
		t.Fatalf("tombstone: %v %+v", err, ev)
	}
	ev, err = dec.Decode(ctx, st.record(t, 'r', nil, cur, &schema.SourceInfo{Snapshot: "last", TsMs: 5}))
	if err != nil || ev.Op != Read || !ev.Source.IsSnapshot() || ev.Source.Snapshot != "last" {
		t.Fatalf("read: %v %+v", err, ev)
	}

	keyless := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "log"}, Columns: tbl.Columns[1:]}
	kt := newSluiceTopic(t, reg, "demo.public.log", keyless, schema.Postgres, false)
	ev, err = dec.Decode(ctx, kt.record(t, 'c', nil, []any{[]byte("x")}, nil))
	if err != nil || ev.Key != nil || ev.KeySchemaID != 0 || ev.After["v"] != "x" {
		t.Fatalf("keyless: %v %+v", err, ev)
	}
	if err := ev.DecodeKey(&struct{}{}); !errors.Is(err, ErrNoImage) {
		t.Errorf("DecodeKey of a keyless table: %v", err)
	}
}

// TestDecodeSchemaChange decodes records of two table versions (a column
// added), each with its own schema id, interleaved, and fetches each
// schema from the registry only once.
func TestDecodeSchemaChange(t *testing.T) {
	_, reg, cl := newRegistry(t)
	v1 := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "t"}, Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "int4", TypeMod: -1}, {Name: "v", Type: "text", TypeMod: -1, Nullable: true},
	}}
	v2 := &schema.Table{ID: v1.ID, Key: []int{0}, Columns: append(append([]schema.Column{}, v1.Columns...),
		schema.Column{Name: "price", Type: "numeric", TypeMod: pgNumericMod(6, 2), Nullable: true})}
	st1 := newSluiceTopic(t, reg, "demo.public.t", v1, schema.Postgres, false)
	st2 := newSluiceTopic(t, reg, "demo.public.t", v2, schema.Postgres, false)
	if st1.valID == st2.valID {
		t.Fatal("the new version did not get a new schema id")
	}
	counting := &countingSchemas{Schemas: cl}
	dec := NewDecoder(counting)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		e1, err := dec.Decode(ctx, st1.record(t, 'c', nil, []any{[]byte("1"), []byte("a")}, nil))
		if err != nil {
			t.Fatal(err)
		}
		e2, err := dec.Decode(ctx, st2.record(t, 'c', nil, []any{[]byte("2"), []byte("b"), []byte("1.25")}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, has := e1.After["price"]; has || e1.ValueSchemaID != st1.valID {
			t.Errorf("v1 event %+v", e1)
		}
		if p, _ := e2.After["price"].(*big.Rat); p == nil || p.Cmp(big.NewRat(5, 4)) != 0 || e2.ValueSchemaID != st2.valID {
			t.Errorf("v2 event %+v", e2)
		}
	}
	if counting.n != 3 { // one key schema (the same for both versions) and two value schemas
		t.Errorf("registry asked %d times, want 3", counting.n)
	}
}

type countingSchemas struct {
	Schemas
	n int
}

func (c *countingSchemas) SchemaByID(ctx context.Context, id int) (sr.Schema, error) {
	c.n++
	return c.Schemas.SchemaByID(ctx, id)
}

// TestDecodeErrors: bytes that are not Sluice's are a *DecodeError naming
// the record, the part and the cause.
func TestDecodeErrors(t *testing.T) {
	_, reg, cl := newRegistry(t)
	tbl := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "t"}, Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "int4", TypeMod: -1},
	}}
	st := newSluiceTopic(t, reg, "demo.public.t", tbl, schema.Postgres, false)
	good := st.record(t, 'c', nil, []any{[]byte("1")}, nil)
	cases := []struct {
		name string
		rec  *kgo.Record
		part string
		want error
	}{
		{"plain JSON value", &kgo.Record{Key: good.Key, Value: []byte(`{"id":1}`)}, "value", ErrWireFormat},
		{"short key", &kgo.Record{Key: []byte{0, 0}, Value: good.Value}, "key", ErrWireFormat},
		{"unknown schema id", &kgo.Record{Key: good.Key, Value: append([]byte{0, 0, 0, 0x7f, 0}, good.Value[5:]...)}, "value", ErrSchema},
		{"truncated payload", &kgo.Record{Key: good.Key, Value: good.Value[:len(good.Value)-3]}, "value", ErrAvro},
		{"trailing bytes", &kgo.Record{Key: good.Key, Value: append(append([]byte{}, good.Value...), 1)}, "value", ErrAvro},
	}
	dec := NewDecoder(cl)
	for _, c := range cases {
		c.rec.Topic, c.rec.Partition, c.rec.Offset = "demo.public.t", 2, 9
		_, err := dec.Decode(context.Background(), c.rec)
		var de *DecodeError
		if !errors.As(err, &de) || de.Part != c.part || de.Offset != 9 || de.Partition != 2 || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want a DecodeError of the %s wrapping %v", c.name, err, c.part, c.want)
		}
	}
}

func TestParseZonedTimestamp(t *testing.T) {
	good := map[string]time.Time{
		"2024-01-02T03:04:05Z":             time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"2024-01-02T03:04:05.120000Z":      time.Date(2024, 1, 2, 3, 4, 5, 120000000, time.UTC),
		"+10000-01-01T00:00:00Z":           time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		"-0043-03-15T12:00:00.000001Z":     time.Date(-43, 3, 15, 12, 0, 0, 1000, time.UTC),
		"2024-01-02T03:04:05+02:00":        time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC),
		"2024-01-02T03:04:05.5-03:30:15":   time.Date(2024, 1, 2, 6, 34, 20, 500000000, time.UTC),
		"1970-01-01T00:00:00.123456789Z":   time.Unix(0, 123456789),
		"2024-02-29T23:59:59.999999+00:00": time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
	}
	for in, want := range good {
		got, err := parseZonedTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z", "2023-02-29T00:00:00Z",
		"2024-01-02 03:04:05Z", "2024-01-02T03:04:05.Z", "24-01-02T03:04:05Z", "2024-01-02T03:04:05+2", "2024-01-02T03:04:05Zx",
		"2024-01-02T03:04:05.1234567890Z"} {
		if _, err := parseZonedTimestamp(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestDecodeBadValue: a value that breaks its semantic type (a
// ZonedTimestamp that is not ISO-8601) is a DecodeError wrapping ErrValue.
func TestDecodeBadValue(t *testing.T) {
	_, reg, cl := newRegistry(t)
	ctx := context.Background()
	id, err := reg.Register(ctx, "bad-value", `{"type":"record","name":"Envelope","fields":[
		{"name":"before","type":"null"},{"name":"after","type":{"type":"record","name":"Value","fields":[
			{"name":"at","type":{"type":"string","connect.name":"io.debezium.time.ZonedTimestamp"}}]}},
		{"name":"source","type":"null"},{"name":"op","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	val := schema.AppendString(schema.AppendString(schema.AppendWireHeader(nil, id), "yesterday"), "c")
	_, err = NewDecoder(cl).Decode(ctx, &kgo.Record{Topic: "bad", Value: val})
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrValue) || de.Part != "value" {
		t.Fatalf("%v, want a DecodeError of the value wrapping ErrValue", err)
	}
}
