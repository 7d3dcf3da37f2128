package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/checkpoint"
)

// committedEvents counts the change events a read_committed consumer sees.
func committedEvents(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	if err := checkpoint.ReadTopic(context.Background(), e.opts, "test.public.t", func(*kgo.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestI1IdleInsideTransactionCommitsNothing: an Idle that arrives while
// part of a source transaction is in the open batch (a source reconnecting
// in the middle of one) neither commits that part nor moves the
// checkpoint [I1].
func TestI1IdleInsideTransactionCommitsNothing(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	for _, id := range []string{"1", "2"} {
		if err := e.p.Change(ctx, insert(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.p.Idle(ctx, checkpoint.Position{LSN: 10}); err != nil {
		t.Fatal(err)
	}
	if n := committedEvents(t, e); n != 0 {
		t.Fatalf("%d events of an unfinished source transaction committed by Idle", n)
	}
	if err := e.p.Change(ctx, insert("3")); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Commit(ctx, checkpoint.Position{LSN: 30}); err != nil {
		t.Fatal(err)
	}
	if n := committedEvents(t, e); n != 3 {
		t.Fatalf("%d events committed at the transaction's end, want 3", n)
	}
}

// TestI1FinishInsideTransaction: a graceful stop that comes while part of
// a source transaction is in the open batch commits nothing in
// exactly-once mode (the batch is aborted and read again), and in
// at-least-once mode checkpoints the last boundary after delivery.
func TestI1FinishInsideTransaction(t *testing.T) {
	for _, eos := range []bool{true, false} {
		e := setup(t, eos)
		ctx := context.Background()
		if err := e.p.Change(ctx, insert("1")); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Change(ctx, insert("2")); err != nil {
			t.Fatal(err)
		}
		committed, err := e.p.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if committed == eos {
			t.Errorf("eos=%v: Finish committed=%v", eos, committed)
		}
		e.p.prod.Close()
		want := 1
		if !eos {
			want = 2 // at-least-once: delivered, not checkpointed
		}
		if n := committedEvents(t, e); n != want {
			t.Errorf("eos=%v: %d events visible, want %d", eos, n, want)
		}
		cp, err := checkpoint.Load(ctx, e.opts, OffsetsTopic("test"), "test")
		if err != nil || cp == nil || cp.Position.LSN != 20 {
			t.Errorf("eos=%v: stored checkpoint %+v, %v; want the boundary at 20", eos, cp, err)
		}
	}
}

// TestIdleAmidTransactionsWaits: an Idle report right after a transaction
// boundary (a keepalive or heartbeat read amid a backlog) does not commit
// the open batch; one after busyWithin without a boundary (the source
// went quiet) does.
func TestIdleAmidTransactionsWaits(t *testing.T) {
	e := setup(t, true)
	e.p.o.CommitInterval = time.Hour // only Idle commits
	ctx := context.Background()
	if err := e.p.Change(ctx, insert("1")); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Idle(ctx, checkpoint.Position{LSN: 20}); err != nil {
		t.Fatal(err)
	}
	if n := committedEvents(t, e); n != 0 {
		t.Fatalf("%d events committed by an Idle amid transactions", n)
	}
	time.Sleep(busyWithin)
	if err := e.p.Idle(ctx, checkpoint.Position{LSN: 20}); err != nil {
		t.Fatal(err)
	}
	if n := committedEvents(t, e); n != 1 {
		t.Fatalf("%d events committed once the source went quiet, want 1", n)
	}
}
