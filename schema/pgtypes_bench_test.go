package schema

import "testing"

// BenchmarkPostgresAppend converts a typical row: int8, numeric(12,2),
// timestamptz and text.
func BenchmarkPostgresAppend(b *testing.B) {
	cols := []Column{
		pgCol("int8", -1), pgCol("numeric", pgNumericMod(12, 2)),
		pgCol("timestamptz", -1), pgCol("text", -1),
	}
	row := [][]byte{
		[]byte("9007199254740993"), []byte("1234567.89"),
		[]byte("2024-05-06 07:08:09.123456+00"), []byte("a typical short text value, 42 bytes long"),
	}
	raws := make([]any, len(row))
	types := make([]ColumnType, len(cols))
	for i := range cols {
		types[i], _ = PostgresColumnType(&cols[i])
		raws[i] = row[i]
	}
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = dst[:0]
		var err error
		for i := range types {
			if dst, err = types[i].Append(AppendNullableSome(dst), raws[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(int64(len(dst)))
}
