package changes

import (
	"context"
	"testing"

	"github.com/sluicecdc/sluice/schema"
)

// BenchmarkDecode decodes a change event of a table of every Postgres
// type (about 40 columns), its key and value, as Run does per record.
func BenchmarkDecode(b *testing.B) {
	tbl, row := pgTypesTable()
	c, err := schema.NewCodec("demo.public.types", tbl, schema.CodecOptions{Kind: schema.Postgres, Name: "demo"})
	if err != nil {
		b.Fatal(err)
	}
	st := &sluiceTopic{codec: c, keyID: 1, valID: 2}
	rec := st.record(b, 'u', row, row, nil)
	dec := NewDecoder(staticSchemas{1: c.KeySchema, 2: c.ValueSchema})
	ctx := context.Background()
	b.SetBytes(int64(len(rec.Key) + len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}
