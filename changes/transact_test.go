package changes

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactConsumerExactlyOnce: the handler turns each change into an
// output record. The first run fails in the middle of a batch after
// producing part of it: that batch's output is aborted and its offsets
// stay uncommitted. A second run finishes. A read_committed reader of the
// output then sees each input exactly once.
func TestTransactConsumerExactlyOnce(t *testing.T) {
	f := newFixture(t)
	var recs []*kgo.Record
	for id := 1; id <= 30; id++ {
		recs = append(recs, f.item(t, id))
	}
	f.produce(t, true, recs...)

	cfg := TransactConfig{Config: f.config("etl"), TransactionalID: "etl-1"}
	transform := func(ctx context.Context, e *Event, out *Output) error {
		var item struct {
			ID   int
			Name string
		}
		if err := e.DecodeAfter(&item); err != nil {
			return err
		}
		out.Produce(ctx, &kgo.Record{Topic: "out", Key: []byte(fmt.Sprint(item.ID)), Value: []byte(item.Name)})
		return nil
	}

	t1, err := NewTransactConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = t1.Run(context.Background(), func(ctx context.Context, e *Event, out *Output) error {
		if err := transform(ctx, e, out); err != nil {
			return err
		}
		if n++; n == 17 {
			return errors.New("crash")
		}
		return nil
	})
	t1.Close()
	var he *HandlerError
	if !errors.As(err, &he) {
		t.Fatalf("first run: %v, want a HandlerError", err)
	}

	t2, err := NewTransactConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]int{}
	reader, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.ListenAddrs()...), kgo.ConsumeTopics("out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	done := make(chan error, 1)
	go func() { done <- t2.Run(ctx, transform) }()
	for len(out) < 30 && ctx.Err() == nil {
		reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out[string(r.Key)]++ })
	}
	// Nothing more arrives: poll once more briefly after the last.
	quiet, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	reader.PollFetches(quiet).EachRecord(func(r *kgo.Record) { out[string(r.Key)]++ })
	qcancel()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("second run: %v", err)
	}
	for id := 1; id <= 30; id++ {
		if got := out[fmt.Sprint(id)]; got != 1 {
			t.Errorf("output of item %d seen %d times, want 1", id, got)
		}
	}
}
