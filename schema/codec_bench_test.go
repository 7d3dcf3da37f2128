package schema

import "testing"

// benchOrderInsert returns the codec of a ten-column Postgres table and
// one insert event of it, as the bench workload writes.
func benchOrderInsert(b *testing.B) (*Codec, *Event) {
	tbl := &Table{ID: TableID{Namespace: "public", Name: "orders"}, Columns: []Column{
		{Name: "id", Type: "int8", TypeMod: -1},
		{Name: "account", Type: "int4", TypeMod: -1, Nullable: true},
		{Name: "amount", Type: "numeric", TypeMod: pgNumericMod(12, 2), Nullable: true},
		{Name: "qty", Type: "int4", TypeMod: -1, Nullable: true},
		{Name: "status", Type: "text", TypeMod: -1, Nullable: true},
		{Name: "created", Type: "timestamptz", TypeMod: -1, Nullable: true},
		{Name: "updated", Type: "timestamptz", TypeMod: -1, Nullable: true},
		{Name: "sku", Type: "varchar", TypeMod: 36, Nullable: true},
		{Name: "flag", Type: "bool", TypeMod: -1, Nullable: true},
		{Name: "note", Type: "text", TypeMod: -1, Nullable: true},
	}, Key: []int{0}}
	c, err := NewCodec("bench.public.orders", tbl, CodecOptions{Kind: Postgres, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	text := []string{"123456789", "42", "1234.56", "7", "pending", "2024-05-06 07:08:09.123456+00",
		"2024-05-06 07:08:10.5+00", "SKU-12345", "t", "a medium-length note of about one hundred bytes, as the bench workload writes in every row."}
	row := make([]any, len(text))
	for i, s := range text {
		row[i] = []byte(s)
	}
	src := &SourceInfo{TsMs: 1700000000000, DB: "bench", LSN: 123456789, TxID: 42}
	return c, &Event{Op: 'c', After: row, Source: src, TsMs: 1700000000001}
}

// BenchmarkCodecAppendValue encodes the whole envelope of one insert of
// a ten-column Postgres row, as the pipeline does for every event.
func BenchmarkCodecAppendValue(b *testing.B) {
	c, ev := benchOrderInsert(b)
	dst := make([]byte, 0, 512)
	var err error
	b.ReportAllocs()
	for b.Loop() {
		dst, err = c.AppendValue(dst[:0], ev)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}
