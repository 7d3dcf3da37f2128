package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/schema"
)

// These tests run the pipeline against franz-go's in-process Kafka and
// schema registry; the guarantees themselves are also tested end to end
// against real servers in integration/.

type fakeSource struct {
	mu   sync.Mutex
	acks []checkpoint.Position
}

func (f *fakeSource) Run(context.Context, capture.Handler) error { return nil }
func (f *fakeSource) Ack(p checkpoint.Position) {
	f.mu.Lock()
	f.acks = append(f.acks, p)
	f.mu.Unlock()
}
func (f *fakeSource) last() checkpoint.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.acks) == 0 {
		return checkpoint.Position{}
	}
	return f.acks[len(f.acks)-1]
}

var table = &schema.Table{ID: schema.TableID{Namespace: "public", Name: "t"}, Key: []int{0}, Columns: []schema.Column{
	{Name: "id", Type: "int8", TypeMod: -1},
	{Name: "v", Type: "text", TypeMod: -1, Nullable: true},
}}

type env struct {
	cluster *kfake.Cluster
	reg     *srfake.Registry
	opts    []kgo.Opt
	p       *Pipeline
	src     *fakeSource
}

func setup(t *testing.T, eos bool) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	o := emit.Options{Brokers: c.ListenAddrs(), DeliveryTimeout: 2 * time.Second}
	if eos {
		o.TransactionalID = "sluice-test"
	}
	prod, err := emit.NewProducer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	r, err := schema.NewRegistry(schema.RegistryOptions{URL: reg.URL()})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{}
	p := New(Options{Name: "test", Kind: schema.Postgres, Tombstones: true, CommitInterval: time.Nanosecond}, prod, r, nil)
	p.SetSource(src)
	ctx := context.Background()
	if err := p.EnsureInternalTopics(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.SnapshotDone(ctx, checkpoint.Position{LSN: 10}); err != nil {
		t.Fatal(err)
	}
	return &env{cluster: c, reg: reg, opts: o.ClientOpts(), p: p, src: src}
}

func insert(id string) *capture.Change {
	return &capture.Change{Op: capture.OpCreate, Table: table, After: []any{[]byte(id), []byte("x")},
		Source: capture.SourceInfo{TsMs: 1, LSN: 15}}
}

func TestCheckpointAfterDelivery(t *testing.T) {
	for _, eos := range []bool{false, true} {
		e := setup(t, eos)
		ctx := context.Background()
		for _, id := range []string{"1", "2", "3"} {
			if err := e.p.Change(ctx, insert(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err != nil {
			t.Fatal(err)
		}
		if got := e.src.last(); got.LSN != 20 {
			t.Errorf("eos=%v: source acknowledged %v, want 20", eos, got)
		}
		cp, err := checkpoint.Load(ctx, e.opts, OffsetsTopic("test"), "test")
		if err != nil || cp == nil || cp.Position.LSN != 20 || !cp.SnapshotDone {
			t.Fatalf("eos=%v: stored checkpoint %+v, %v", eos, cp, err)
		}
		n := 0
		if err := checkpoint.ReadTopic(ctx, e.opts, "test.public.t", func(*kgo.Record) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("eos=%v: %d events in the topic, want 3", eos, n)
		}
	}
}

// TestNoCheckpointAfterFailure: when Kafka rejects the produce requests,
// the commit fails, the checkpoint and the source's position stay where
// they were, and the pipeline accepts no more work [I2, I3, I4].
func TestNoCheckpointAfterFailure(t *testing.T) {
	for _, eos := range []bool{false, true} {
		e := setup(t, eos)
		ctx := context.Background()
		e.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			e.cluster.KeepControl()
			return nil, errors.New("injected: connection dropped"), true
		})
		if err := e.p.Change(ctx, insert("1")); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err == nil {
			t.Fatalf("eos=%v: commit succeeded although every produce failed", eos)
		}
		if got := e.src.last(); got.LSN != 10 {
			t.Errorf("eos=%v: source acknowledged %v after a failed delivery", eos, got)
		}
		if err := e.p.Change(ctx, insert("2")); err == nil {
			t.Errorf("eos=%v: the pipeline accepted work after a failure", eos)
		}
		e.cluster.DropControl()
		cp, err := checkpoint.Load(ctx, e.opts, OffsetsTopic("test"), "test")
		if err != nil || cp == nil || cp.Position.LSN != 10 {
			t.Fatalf("eos=%v: stored checkpoint %+v, %v; want the one before the failure", eos, cp, err)
		}
	}
}

// TestUnrepresentableValueStops: a value the type mapping rejects stops
// the pipeline with a *schema.ValueError and nothing is checkpointed [I5].
func TestUnrepresentableValueStops(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	bad := &capture.Change{Op: capture.OpCreate, Table: table, After: []any{[]byte("not a number"), nil}}
	err := e.p.Change(ctx, bad)
	var ve *schema.ValueError
	if !errors.As(err, &ve) || ve.Column != "id" {
		t.Fatalf("error %v, want a ValueError for column id", err)
	}
	if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err == nil {
		t.Fatal("commit after a value error succeeded")
	}
	if got := e.src.last(); got.LSN != 10 {
		t.Errorf("source acknowledged %v", got)
	}
}

func TestTopicNames(t *testing.T) {
	if got := TableTopic("inv", schema.TableID{Namespace: "public", Name: "order items"}); got != "inv.public.order_items" {
		t.Errorf("topic %q", got)
	}
}

// TestIdleNeverMovesBackwards: a quiet-stream report at an older position
// than one already checkpointed does not move the checkpoint back (the
// slot's confirmed position would then be ahead of it, which a restart
// reads as a gap) [I1, I3].
func TestIdleNeverMovesBackwards(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	if err := e.p.Idle(ctx, checkpoint.Position{LSN: 50}); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Change(ctx, insert("1")); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Idle(ctx, checkpoint.Position{LSN: 40}); err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Load(ctx, e.opts, OffsetsTopic("test"), "test")
	if err != nil || cp == nil || cp.Position.LSN != 50 {
		t.Fatalf("stored checkpoint %+v, %v; want 50", cp, err)
	}
	if got := e.src.last(); got.LSN != 50 {
		t.Errorf("source acknowledged %v, want 50", got)
	}
}
