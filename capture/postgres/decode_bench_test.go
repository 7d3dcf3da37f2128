package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pglogrepl"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
)

// discard is a capture.Handler that keeps nothing.
type discard struct{}

func (discard) Change(context.Context, *capture.Change) error             { return nil }
func (discard) SchemaChange(context.Context, *capture.SchemaChange) error { return nil }
func (discard) Commit(context.Context, checkpoint.Position) error         { return nil }
func (discard) Idle(context.Context, checkpoint.Position) error           { return nil }
func (discard) Watermark(context.Context, *capture.Watermark) error       { return nil }
func (discard) Signal(context.Context, *capture.Signal) error             { return nil }

// BenchmarkDecodeInsert decodes one pgoutput insert of a ten-column row
// (the bench workload's shape) into a capture.Change, the path of every
// streamed change: wire bytes to the handler.
func BenchmarkDecodeInsert(b *testing.B) {
	st := newStream(b, 0)
	var cols []*pglogrepl.RelationMessageColumn
	var vals []*pglogrepl.TupleDataColumn
	for i, v := range []string{"123456789", "42", "1234.56", "7", "pending", "2024-05-06 07:08:09.123456+00",
		"2024-05-06 07:08:10.5+00", "SKU-12345", "t", "a medium-length note of about one hundred bytes, as the bench workload writes in every row."} {
		oid := uint32(oidText)
		if i < 2 {
			oid = oidInt4
		}
		cols = append(cols, col(string(rune('a'+i)), oid, i == 0))
		vals = append(vals, text(v))
	}
	ctx := context.Background()
	for _, m := range []pglogrepl.Message{&pglogrepl.BeginMessage{FinalLSN: 0x900, Xid: 1}, relMsg(7, "orders", 'd', cols...)} {
		if err := st.dec.handle(ctx, discard{}, pglogrepl.XLogData{WALStart: 0x100, WALData: wire(m)}); err != nil {
			b.Fatal(err)
		}
	}
	xld := pglogrepl.XLogData{WALStart: 0x200, WALData: wire(&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(vals...)})}
	b.ReportAllocs()
	for b.Loop() {
		if err := st.dec.handle(ctx, discard{}, xld); err != nil {
			b.Fatal(err)
		}
	}
}
