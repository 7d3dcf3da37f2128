package postgres

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkCopyReader parses COPY text output of ten-column rows of about
// 200 bytes, as the Postgres snapshot reads them.
func BenchmarkCopyReader(b *testing.B) {
	line := "123456789\t42\t1234.56\t7\tpending\t2024-05-06 07:08:09.123456+00\t2024-05-06 07:08:10.5+00\tSKU-12345\tt\t" +
		"a note with a tab\\there and a backslash \\\\ in about one hundred bytes of text for the bench\n"
	data := []byte(strings.Repeat(line, 1000))
	r := &copyReader{ctx: context.Background(), ncols: 10, emit: func([]any) error { return nil }}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.Write(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyReaderTransient parses rows without escapes into reused
// buffers, as the encoded snapshot path reads the bench table.
func BenchmarkCopyReaderTransient(b *testing.B) {
	line := "123456789\t42\t1234.56\t7\tpending\t2024-05-06 07:08:09.123456+00\t2024-05-06 07:08:10.5+00\tSKU-12345\tt\t" +
		"0cc175b9c0f1b6a831c399e269772661c4ca4238a0b923820dcc509a6f75849b92eb5ffee6ae2fec3ad71c777531578f\n"
	data := []byte(strings.Repeat(line, 1000))
	r := &copyReader{ctx: context.Background(), ncols: 10, reuse: true, emit: func([]any) error { return nil }}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.Write(data); err != nil {
			b.Fatal(err)
		}
	}
}
