package mysql

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// BenchmarkCapturedBinlog decodes the binlog captured from MySQL (JSON
// documents of every kind, row images, GTIDs) through Source.handle, the
// path of the live stream: binlog bytes to capture.Change values.
func BenchmarkCapturedBinlog(b *testing.B) {
	data, err := os.ReadFile(capturedBinlog)
	if err != nil {
		b.Fatal(err)
	}
	want := readCaptured(b).uuid
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := capturedSource(b, want)
		rec := &recorder{}
		if err := s.newParser().ParseReader(bytes.NewReader(data[4:]), func(ev *replication.BinlogEvent) error {
			return s.handle(ctx, rec, ev)
		}); err != nil {
			b.Fatal(err)
		}
	}
}
