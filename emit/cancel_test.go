package emit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hangGuard is how long a test waits for a call that must return at once
// before it reports the call as hung. It only catches hangs: nothing here
// measures how fast a call is.
const hangGuard = 5 * time.Second

// TestBlockedProduceReturnsOnCancel: with the brokers unreachable and the
// producer's buffer full, Produce blocks (back-pressure); cancelling its
// context (a hard stop) ends the wait with the cancellation, and the
// producer is failed, so that Commit reports it and nothing after it is
// checkpointed [I4]. The delivery timeout is far longer than the test, so
// only the cancellation can end the wait.
func TestBlockedProduceReturnsOnCancel(t *testing.T) {
	tests := []struct {
		name string
		txn  bool
		down func(*kfake.Cluster)
	}{
		{"at-least-once/produce requests dropped", false, dropProduce},
		{"exactly-once/produce requests dropped", true, dropProduce},
		// Exactly-once is left out here: Close would spend its abort
		// timeout on the cluster that is gone.
		{"at-least-once/cluster gone", false, func(c *kfake.Cluster) { c.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			p := newProducer(t, c, tt.txn, Options{DeliveryTimeout: time.Minute, maxBufferedRecords: 2})
			// Connect first, so the producer id and metadata are loaded.
			produce(t, p, "warm")
			if err := p.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			tt.down(c)
			produce(t, p, "a", "b") // fills the buffer

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Produce(ctx, event("c")) }()
			waitFor(t, "Produce to block", func() bool { return p.cl.BufferedProduceRecords() == 3 })
			select {
			case err := <-done:
				t.Fatalf("Produce returned %v with the buffer full and its context live; want it to block", err)
			default:
			}

			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(hangGuard):
				t.Fatalf("Produce still blocked %s after its context was cancelled", hangGuard)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Produce: %v; want context.Canceled", err)
			}

			cdone := make(chan error, 1)
			go func() { cdone <- p.Commit(context.Background(), checkpointRecord("after cancel")) }()
			select {
			case err := <-cdone:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Commit after the cancelled Produce: %v; want the cancellation", err)
				}
			case <-time.After(hangGuard):
				t.Fatalf("Commit after the cancelled Produce still running after %s", hangGuard)
			}
			if err := p.Produce(context.Background(), event("d")); !errors.Is(err, context.Canceled) {
				t.Errorf("Produce after the cancellation: %v; want the cancellation", err)
			}
		})
	}
}

// TestBackPressure: a Produce that waited for room in the buffer hands its
// record over like any other once there is room; the record is not
// cancelled when the caller's context ends afterwards.
func TestBackPressure(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newCluster(t)
			p := newProducer(t, c, m.txn, Options{maxBufferedRecords: 2})
			ctx, cancel := context.WithCancel(context.Background())
			var want []string
			for i := range 50 {
				k := fmt.Sprintf("%02d", i)
				want = append(want, k)
				if err := p.Produce(ctx, event(k)); err != nil {
					t.Fatalf("Produce(%s): %v", k, err)
				}
			}
			cancel()
			if err := p.Commit(context.Background(), checkpointRecord("1")); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got := committed(t, c, eventsTopic); !slices.Equal(got, want) {
				t.Errorf("events visible: %v; want %v", got, want)
			}
		})
	}
}

// dropProduce makes the cluster close the connection on every produce
// request from now on.
func dropProduce(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errDropped, true
	})
}

// waitFor polls cond until it holds, failing the test after hangGuard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", hangGuard, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
