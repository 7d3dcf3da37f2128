package pipeline

import (
	"bytes"
	"context"
	"strconv"
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

// TestEmitReadReusesOnlyCommittedMemory holds EmitRead's record memory
// to [I8]: rounds of snapshot rows, each more than several slab chunks
// of bytes and of records, each committed before the next reuses their
// chunks, arrive in Kafka exactly as they were encoded.
func TestEmitReadReusesOnlyCommittedMemory(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	enc := e.p.RowEncoder(table)
	if enc == nil {
		t.Fatal("no row encoder")
	}
	const rounds, rows = 3, 2000 // 2,000 rows of 150 bytes: 5 chunks of bytes, 8 of records
	var want [][]byte            // each row's encoded key and row image
	for r := range rounds {
		for i := range rows {
			id := r*rows + i
			b, keyEnd, err := enc(nil, []any{[]byte(strconv.Itoa(id)), bytes.Repeat([]byte{byte('a' + r)}, 100+i%50)})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, b)
			info := capture.SourceInfo{TsMs: 1, LSN: int64(100 + r), Snapshot: "true", DB: "db"}
			if err := e.p.EmitRead(ctx, &capture.Change{Op: capture.OpRead, Table: table, Source: info}, b[:keyEnd], b[keyEnd:]); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.p.Commit(ctx, checkpoint.Position{LSN: checkpoint.LSN(200 + r)}); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	if err := checkpoint.ReadTopic(ctx, e.opts, "test.public.t", func(r *kgo.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		// The key is the wire header and the encoded key; the value
		// holds the row image after its header and the null before.
		key, row := want[i][:len(r.Key)-5], want[i][len(r.Key)-5:]
		if !bytes.Equal(r.Key[5:], key) || !bytes.Contains(r.Value, row) {
			t.Fatalf("record %d is not the row it was encoded from: key %x, want %x", i, r.Key[5:], key)
		}
	}
}
