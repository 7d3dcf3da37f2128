package schema

import (
	"context"
	"testing"
)

// decoderSeeds registers the schemas of a Postgres table with array,
// numeric, temporal, enum and composite columns, of the transaction
// topic and of the MySQL schema-change topic, and returns records Sluice
// writes with them (keys, creates, updates, deletes, BEGIN and END,
// DDL).
func decoderSeeds(t testing.TB, reg *Registry) [][]byte {
	t.Helper()
	ctx := context.Background()
	register := func(subject, text string) int {
		id, err := reg.Register(ctx, subject, text)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	c := func(name, typ string, typmod int32) Column {
		return Column{Name: name, Type: typ, TypeMod: typmod, Nullable: true}
	}
	tbl := &Table{ID: TableID{"public", "fuzz"}, Key: []int{0}, Columns: []Column{
		{Name: "id", Type: "int8", TypeMod: -1},
		c("c_int2", "int2", -1), c("c_float8", "float8", -1), c("c_bool", "bool", -1),
		c("c_numeric_10_2", "numeric", pgNumericMod(10, 2)), c("c_numeric", "numeric", -1),
		c("c_text", "text", -1), c("c_bytea", "bytea", -1), c("c_jsonb", "jsonb", -1), c("c_uuid", "uuid", -1),
		c("c_date", "date", -1), c("c_timestamptz", "timestamptz", -1), c("c_interval", "interval", -1),
		c("c_point", "point", -1), c("c_bit10", "bit", 10),
		{Name: "c_enum", Type: "mood", Kind: "e", TypeMod: -1, Nullable: true, Enum: []string{"sad", "ok"}},
		c("c_int4_array", "_int4", -1), c("c_text_array", "_text", -1), c("c_numeric_array", "_numeric", -1),
	}}
	row := []any{[]byte("7"), []byte("-5"), []byte("1.5"), []byte("t"), []byte("19.99"), []byte("-1.005"),
		[]byte("hello"), []byte(`\x00ff`), []byte(`{"a": [1, 2]}`), []byte("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
		[]byte("2024-02-29"), []byte("2024-01-02 03:04:05.5+02"), []byte("P1Y2M3DT4H5M6S"),
		[]byte("(1.5,-2)"), []byte("1000000001"), []byte("ok"),
		[]byte("{1,2,3}"), []byte(`{a,NULL,"b c"}`), []byte("{1.5,NULL,-2}")}
	var seeds [][]byte
	for _, logical := range []bool{false, true} {
		codec, err := NewCodec("demo.public.fuzz", tbl, CodecOptions{Kind: Postgres, Name: "demo", AvroLogicalTypes: logical})
		if err != nil {
			t.Fatal(err)
		}
		keyID := register("demo.public.fuzz-key", codec.KeySchema)
		valueID := register("demo.public.fuzz-value", codec.ValueSchema)
		key, err := codec.AppendKey(AppendWireHeader(nil, keyID), row)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, key)
		src := &SourceInfo{TsMs: 1, LSN: 2, TxID: 3}
		for _, e := range []*Event{
			{Op: 'c', After: row, Source: src, TsMs: 4},
			{Op: 'u', Before: row, After: row, Source: src, TsMs: 4, Txn: &TxnBlock{ID: "3:2", TotalOrder: 1, CollectionOrder: 1}},
			{Op: 'd', Before: row, Source: src, TsMs: 4},
		} {
			v, err := codec.AppendValue(AppendWireHeader(nil, valueID), e)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, v)
		}
	}
	txnKey := register("demo.transaction-key", TxnMetaKeySchema)
	txnValue := register("demo.transaction-value", TxnMetaValueSchema)
	seeds = append(seeds,
		AppendTxnMetaKey(AppendWireHeader(nil, txnKey), "3:2"),
		AppendTxnBegin(AppendWireHeader(nil, txnValue), "3:2", 1),
		AppendTxnEnd(AppendWireHeader(nil, txnValue), "3:2", 3, []CollectionCount{{"public.fuzz", 2}, {"public.other", 1}}, 1))
	sc, err := NewMySQLSchemaChangeCodec("demo", "demo", "mysql")
	if err != nil {
		t.Fatal(err)
	}
	scKey := register("demo-key", sc.KeySchema)
	scValue := register("demo-value", sc.ValueSchema)
	ddl, err := sc.AppendValue(AppendWireHeader(nil, scValue), &SchemaChangeEvent{Database: "shop",
		DDL: "ALTER TABLE items ADD COLUMN note TEXT", Source: &SourceInfo{TsMs: 1, File: "binlog.000001", Pos: 4}, TsMs: 2})
	if err != nil {
		t.Fatal(err)
	}
	return append(seeds, sc.AppendKey(AppendWireHeader(nil, scKey), "shop"), ddl)
}

// FuzzDecoder feeds arbitrary framed records (untrusted: anything on a
// topic) to the Decoder `sluice tail` uses, with the schemas of records
// Sluice writes in an in-process registry. Every path must return a value
// or an error, never panic or allocate for a block count the bytes cannot
// hold; a record that decodes must also render.
func FuzzDecoder(f *testing.F) {
	reg := newFakeRegistry(f)
	dec := NewDecoder(reg)
	ctx := context.Background()
	for i, s := range decoderSeeds(f, reg) {
		if _, err := dec.Render(ctx, s); err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		f.Add(s)
	}
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := dec.Native(ctx, b); err != nil {
			return
		}
		if _, err := dec.Render(ctx, b); err != nil {
			t.Errorf("Native decodes the record, Render fails: %v", err)
		}
		_, _ = dec.JSON(ctx, b)
	})
}
