package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// txnChange is change i of source transaction xid.
func txnChange(xid int64, i int) *capture.Change {
	c := insert(string(rune('1' + i)))
	c.Source.TxID, c.Source.LSN = xid, 100*xid+int64(i)
	return c
}

// restart builds a pipeline on e's cluster from the stored checkpoint, as
// a new process would.
func restart(t *testing.T, e *env, o Options) (*Pipeline, *checkpoint.Checkpoint) {
	t.Helper()
	ctx := context.Background()
	cp, err := checkpoint.Load(ctx, e.opts, OffsetsTopic("test"), "test")
	if err != nil || cp == nil {
		t.Fatalf("checkpoint %+v, %v", cp, err)
	}
	prod, err := emit.NewProducer(emit.Options{Brokers: e.cluster.ListenAddrs(), DeliveryTimeout: 2 * time.Second, TransactionalID: "sluice-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	if err := prod.ClaimTransactionalID(ctx); err != nil {
		t.Fatal(err)
	}
	o.Name, o.Kind, o.Tombstones, o.CommitInterval = "test", schema.Postgres, true, time.Nanosecond
	return New(o, prod, e.p.reg, cp), cp
}

// committedKeys returns the keys of the change events a read_committed
// consumer sees, in order: the id's Avro long byte (2×id for the small
// ids used here).
func committedKeys(t *testing.T, e *env) []string {
	t.Helper()
	var keys []string
	if err := checkpoint.ReadTopic(context.Background(), e.opts, "test.public.t", func(r *kgo.Record) error {
		keys = append(keys, string(r.Key[len(r.Key)-1:]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestI7SplitAndResume: a source transaction that keeps a Kafka transaction
// open longer than SplitAfter is committed in parts, each with a
// checkpoint at the boundary before it naming the changes delivered; a
// restart replays it and skips exactly those, so a read_committed consumer
// sees every change once.
func TestI7SplitAndResume(t *testing.T) {
	e := setup(t, true)
	e.p.o.SplitAfter = time.Nanosecond
	ctx := context.Background()
	for i := range 5 {
		if err := e.p.Change(ctx, txnChange(7, i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.p.m.TxnSplits.Load(); got != 4 {
		t.Errorf("%d splits, want 4 (before each change after the first)", got)
	}
	e.p.prod.Close() // a crash: the fifth change's batch is aborted
	if got := committedKeys(t, e); len(got) != 4 {
		t.Fatalf("committed %v, want the first 4 changes", got)
	}

	p, cp := restart(t, e, Options{})
	if cp.Position.LSN != 10 || cp.Txn == nil || cp.Txn.Events != 4 || cp.Txn.ID != txnID(txnChange(7, 0).Source) {
		t.Fatalf("checkpoint %+v txn %+v: want lsn 10, 4 changes of the transaction", cp.Position, cp.Txn)
	}
	if e.src.last().LSN > 10 {
		t.Errorf("source acknowledged %v inside the transaction", e.src.last())
	}
	// An empty transaction before it does not end the skipping.
	if err := p.Commit(ctx, checkpoint.Position{LSN: 11}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := p.Change(ctx, txnChange(7, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Commit(ctx, checkpoint.Position{LSN: 800}); err != nil {
		t.Fatal(err)
	}
	got := committedKeys(t, e)
	want := []string{"\x02", "\x04", "\x06", "\x08", "\x0a", "\x0c"}
	if len(got) != len(want) {
		t.Fatalf("committed %q, want %q: each change once, in order", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("committed %q, want %q: each change once, in order", got, want)
		}
	}
	cp, err := checkpoint.Load(ctx, e.opts, OffsetsTopic("test"), "test")
	if err != nil || cp.Position.LSN != 800 || cp.Txn != nil {
		t.Fatalf("checkpoint after the transaction %+v, %v", cp, err)
	}
}

// TestI7ReplayMismatch: a restart inside a transaction whose source sends
// another transaction first, or ends it before the delivered part, stops
// with a SetupError instead of skipping the wrong changes.
func TestI7ReplayMismatch(t *testing.T) {
	e := setup(t, true)
	e.p.o.SplitAfter = time.Nanosecond
	ctx := context.Background()
	for i := range 3 {
		if err := e.p.Change(ctx, txnChange(7, i)); err != nil {
			t.Fatal(err)
		}
	}
	e.p.prod.Close()

	var se *capture.SetupError
	p, _ := restart(t, e, Options{})
	if err := p.Change(ctx, txnChange(8, 0)); !errors.As(err, &se) {
		t.Fatalf("another transaction first: %v, want a SetupError", err)
	}
	t.Log(se)

	p, _ = restart(t, e, Options{})
	if err := p.Change(ctx, txnChange(7, 0)); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx, checkpoint.Position{LSN: 800}); !errors.As(err, &se) {
		t.Fatalf("transaction shorter than its delivered part: %v, want a SetupError", err)
	}
	if got := committedKeys(t, e); len(got) != 2 {
		t.Fatalf("committed %v after the refusals, want the 2 delivered before", got)
	}
}

// TestI7NoSplitAtLeastOnce: at-least-once mode has no Kafka transaction to
// bound and checkpoints only at boundaries [I1].
func TestI7NoSplitAtLeastOnce(t *testing.T) {
	e := setup(t, false)
	e.p.o.SplitAfter = time.Nanosecond
	ctx := context.Background()
	for i := range 3 {
		if err := e.p.Change(ctx, txnChange(7, i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.p.m.TxnSplits.Load(); got != 0 {
		t.Fatalf("%d splits in at-least-once mode", got)
	}
}

// TestTxnMetadataAcrossSplitRestart: with transaction metadata, the BEGIN
// event comes before the transaction's first event, every event carries
// its orders, and the END event its counts, also when a restart inside
// the transaction skips its delivered part [I7].
func TestTxnMetadataAcrossSplitRestart(t *testing.T) {
	e := setup(t, true)
	e.p.o.SplitAfter, e.p.o.TxnMetadata = time.Nanosecond, true
	ctx := context.Background()
	for i := range 3 {
		if err := e.p.Change(ctx, txnChange(7, i)); err != nil {
			t.Fatal(err)
		}
	}
	e.p.prod.Close()
	p, _ := restart(t, e, Options{TxnMetadata: true})
	for i := range 5 {
		if err := p.Change(ctx, txnChange(7, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Commit(ctx, checkpoint.Position{LSN: 800}); err != nil {
		t.Fatal(err)
	}
	var meta []string
	if err := checkpoint.ReadTopic(ctx, e.opts, TxnTopic("test"), func(r *kgo.Record) error {
		meta = append(meta, string(r.Value[5:]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := txnID(txnChange(7, 0).Source)
	begin := string(schema.AppendTxnBegin(nil, id, 1))
	end := string(schema.AppendTxnEnd(nil, id, 5, []schema.CollectionCount{{Collection: "public.t", Events: 5}}, 1))
	if len(meta) != 2 || meta[0] != begin || meta[1] != end {
		t.Fatalf("transaction topic %q, want BEGIN %q then END %q", meta, begin, end)
	}
	var orders []int64
	if err := checkpoint.ReadTopic(ctx, e.opts, "test.public.t", func(r *kgo.Record) error {
		// The block ends the value: id, total_order, data_collection_order.
		v := r.Value
		blk := schema.AppendLong(schema.AppendString(schema.AppendNullableSome(nil), id), 0)
		i := bytes.LastIndex(v, blk[:len(blk)-1])
		if i < 0 {
			return fmt.Errorf("no transaction block in %x", v)
		}
		n, _ := binary.Varint(v[i+len(blk)-1:])
		orders = append(orders, n)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(orders) != "[1 2 3 4 5]" {
		t.Fatalf("total_order of the events %v, want [1 2 3 4 5]", orders)
	}
}
