package transform

import (
	"context"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// BenchmarkEncode turns one change into its records under each transform,
// beside the plain envelope of the same row (pipeline.BenchmarkEncode
// is the pipeline's own path, with its slab).
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
	ob := outboxTable()
	obRow := []any{[]byte("406c07f3-26f0-4eea-a50c-109940064b8f"), []byte("Order"), []byte("123456789"), []byte("OrderCreated"),
		[]byte(`{"id": 123456789, "customerId": 42, "lineItems": [{"sku": "SKU-12345", "quantity": 7, "price": "1234.56"}]}`)}
	src := capture.SourceInfo{TsMs: 1700000000000, DB: "bench", LSN: 123456789, TxID: 42}
	cases := []struct {
		name  string
		tf    config.Transform
		table *schema.Table
		row   []any
	}{
		{"mask", config.Transform{Type: "mask", Columns: []string{"public.orders." + tbl.Columns[9].Name}, With: "sha256", Salt: "s"}, tbl, row},
		{"unwrap", config.Transform{Type: "unwrap", Tables: []string{"public.orders"}, AddFields: []string{"op", "table", "source.ts_ms"}, DeleteHandling: "drop"}, tbl, row},
		{"outbox", outboxCfg(nil), ob, obRow},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, err := New([]config.Transform{tc.tf}, schema.Postgres, "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			p, err := c.For(tc.table, nil)
			if err != nil {
				b.Fatal(err)
			}
			codec, err := schema.NewCodec("bench.public."+tc.table.ID.Name, p.Table, schema.CodecOptions{Kind: schema.Postgres, Name: "bench", Override: p.Override})
			if err != nil {
				b.Fatal(err)
			}
			reg := &fakeRegistry{schemas: map[int]string{}}
			e := c.NewEncoder(p, codec, reg, func(context.Context, string) error { return nil })
			ch := &capture.Change{Op: capture.OpCreate, Table: tc.table, After: tc.row, Source: src}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Encode(context.Background(), ch, now, true, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
