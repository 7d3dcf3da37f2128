package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/pipeline"
	"github.com/sluicecdc/sluice/schema"
)

// stoppingSource delivers one change and its commit, then stops as at a
// graceful stop (Run returns nil).
type stoppingSource struct{}

var streamTable = &schema.Table{ID: schema.TableID{Namespace: "public", Name: "t"}, Key: []int{0}, Columns: []schema.Column{
	{Name: "id", Type: "int8", TypeMod: -1},
}}

func (stoppingSource) Run(ctx context.Context, h capture.Handler) error {
	c := &capture.Change{Op: capture.OpCreate, Table: streamTable, After: []any{[]byte("1")}, Source: capture.SourceInfo{TsMs: 1, LSN: 15}}
	if err := h.Change(ctx, c); err != nil {
		return err
	}
	return h.Commit(ctx, checkpoint.Position{LSN: 20})
}
func (stoppingSource) Ack(checkpoint.Position) {}
func (stoppingSource) Stop()                   {}

// TestHardStopInterruptsFinalCheckpoint: after a graceful stop, the final
// checkpoint waits for Kafka; when Kafka does not answer, the second
// signal (ctx cancelled) ends that wait, so the process can exit, and
// nothing is checkpointed.
func TestHardStopInterruptsFinalCheckpoint(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	// A delivery timeout far longer than the test: only the
	// cancellation can end the final checkpoint.
	prod, err := emit.NewProducer(emit.Options{Brokers: c.ListenAddrs(), DeliveryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	r, err := schema.NewRegistry(schema.RegistryOptions{URL: reg.URL()})
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Name: "test", Kind: schema.Postgres, CommitInterval: time.Hour}, prod, r,
		&checkpoint.Checkpoint{Position: checkpoint.Position{LSN: 10}, SnapshotDone: true})
	if err := p.EnsureInternalTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Kafka takes produce requests and never answers them.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})

	st := NewState()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- stream(ctx, stoppingSource{}, p, nil, false, st, &Stopper{}, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for st.Phase.Load() != "stopping" {
		if time.Now().After(deadline) {
			t.Fatal("the stream never reached its final checkpoint")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // the second signal
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("stream: %v; want the cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the final checkpoint still runs 5s after the hard stop")
	}
	if got := p.Checkpointed(); got.LSN != 10 {
		t.Errorf("checkpointed %v after the interrupted final checkpoint; want 10", got)
	}
}
