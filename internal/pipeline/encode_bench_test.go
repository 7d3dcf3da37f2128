package pipeline

import (
	"testing"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// BenchmarkEncode turns one change of a ten-column row into its Kafka
// record (key, value, record), as the pipeline does for every event; the
// allocations reported are those of the slab, amortised.
func BenchmarkEncode(b *testing.B) {
	tbl := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "orders"}, Key: []int{0}}
	types := []string{"int8", "int4", "numeric", "int4", "text", "timestamptz", "timestamptz", "varchar", "bool", "text"}
	text := []string{"123456789", "42", "1234.56", "7", "pending", "2024-05-06 07:08:09.123456+00",
		"2024-05-06 07:08:10.5+00", "SKU-12345", "t", "a medium-length note of about one hundred bytes, as the bench workload writes in every row."}
	row := make([]any, len(types))
	for i, ty := range types {
		tbl.Columns = append(tbl.Columns, schema.Column{Name: "c" + ty + string(rune('a'+i)), Type: ty, TypeMod: -1, Nullable: i > 0})
		row[i] = []byte(text[i])
	}
	codec, err := schema.NewCodec("bench.public.orders", tbl, schema.CodecOptions{Kind: schema.Postgres, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	st := &tableState{codec: codec, keyID: 1, valueID: 2}
	c := &capture.Change{Op: capture.OpCreate, Table: tbl, After: row,
		Source: capture.SourceInfo{TsMs: 1700000000000, DB: "bench", LSN: 123456789, TxID: 42}}
	var s slab
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := encodeWith(st, &s, true, c, nil); err != nil {
			b.Fatal(err)
		}
	}
}
