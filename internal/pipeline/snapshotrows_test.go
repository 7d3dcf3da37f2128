package pipeline

import (
	"bytes"
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// TestEmitReadAsChange: a snapshot row encoded ahead by RowEncoder and
// produced by EmitRead is the record Change produces of the same row,
// but for the processing times.
func TestEmitReadAsChange(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	row := []any{[]byte("7"), []byte("seven")}
	info := capture.SourceInfo{TsMs: 1, LSN: 15, Snapshot: "true", DB: "db"}
	if err := e.p.Change(ctx, &capture.Change{Op: capture.OpRead, Table: table, After: row, Source: info}); err != nil {
		t.Fatal(err)
	}
	enc := e.p.RowEncoder(table)
	if enc == nil {
		t.Fatal("no row encoder for a table no transform applies to")
	}
	b, keyEnd, err := enc(nil, row)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.EmitRead(ctx, &capture.Change{Op: capture.OpRead, Table: table, Source: info}, b[:keyEnd], b[keyEnd:]); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	if err := checkpoint.ReadTopic(ctx, e.opts, "test.public.t", func(r *kgo.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	// The envelope ends with ts_ms, ts_us and ts_ns (processing times) and
	// a null transaction: compare everything before them.
	head := func(v []byte) []byte {
		i := bytes.Index(v, []byte("\x02r\x02"))
		if i < 0 {
			t.Fatalf("no op r in %q", v)
		}
		return v[:i+2]
	}
	if !bytes.Equal(recs[0].Key, recs[1].Key) || !bytes.Equal(head(recs[0].Value), head(recs[1].Value)) {
		t.Errorf("EmitRead's record differs from Change's:\nkey %x / %x\nvalue %x\n      %x", recs[0].Key, recs[1].Key, recs[0].Value, recs[1].Value)
	}
	if _, _, err := schema.ParseWireHeader(recs[1].Value); err != nil {
		t.Error(err)
	}
}
