package emit

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeliveryErrors: a record the brokers (or the client) refuse fails
// Commit with an error that says why, the producer accepts nothing more,
// and the checkpoint given to Commit is never stored [I2, I4]. In
// exactly-once mode the events acknowledged before the failure, in the same
// transaction, are not visible either.
func TestDeliveryErrors(t *testing.T) {
	// failProduce makes the broker answer every produce request with code.
	failProduce := func(code int16) func(*kfake.Cluster) {
		return func(c *kfake.Cluster) {
			c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				return produceErrorResponse(kreq, code), nil, true
			})
		}
	}
	tests := []struct {
		name  string
		opts  Options
		fault func(*kfake.Cluster) // installed after the first events are acknowledged
		bad   *kgo.Record
		check func(*testing.T, error)
	}{
		{
			name:  "broker rejects the record",
			fault: failProduce(kerr.InvalidRecord.Code),
			bad:   event("bad"),
			check: func(t *testing.T, err error) {
				var tl *RecordTooLargeError
				if !errors.Is(err, kerr.InvalidRecord) || errors.As(err, &tl) {
					t.Errorf("error %v; want INVALID_RECORD, not a RecordTooLargeError", err)
				}
			},
		},
		{
			name:  "broker: message too large",
			fault: failProduce(kerr.MessageTooLarge.Code),
			bad:   event("bad"),
			check: wantTooLarge(eventsTopic, kerr.MessageTooLarge),
		},
		{
			name:  "broker: record list too large",
			fault: failProduce(kerr.RecordListTooLarge.Code),
			bad:   event("bad"),
			check: wantTooLarge(eventsTopic, kerr.RecordListTooLarge),
		},
		{
			name:  "record larger than kafka.max_record_bytes",
			opts:  Options{MaxRecordBytes: 1024},
			bad:   &kgo.Record{Topic: eventsTopic, Key: []byte("bad"), Value: bytes.Repeat([]byte{'x'}, 4096)},
			check: wantTooLarge(eventsTopic, kerr.MessageTooLarge),
		},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				c := newCluster(t)
				p := newProducer(t, c, m.txn, tt.opts)
				ctx := context.Background()
				produce(t, p, "a", "b")
				if err := p.cl.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if tt.fault != nil {
					tt.fault(c)
				}
				if err := p.Produce(ctx, tt.bad); err != nil {
					t.Fatalf("Produce: %v; want the error at Commit", err)
				}
				err := p.Commit(ctx, checkpointRecord("after bad"))
				if err == nil {
					t.Fatal("Commit succeeded although a record was refused")
				}
				tt.check(t, err)

				// Sticky: the same error, and no more work accepted.
				if err2 := p.Produce(ctx, event("c")); !errors.Is(err2, err) {
					t.Errorf("Produce after the failure: %v; want %v", err2, err)
				}
				if err2 := p.Commit(ctx, checkpointRecord("again")); !errors.Is(err2, err) {
					t.Errorf("second Commit: %v; want %v", err2, err)
				}
				c.DropControl()
				if got := committed(t, c, offsetsTopic); len(got) != 0 {
					t.Errorf("checkpoints stored: %v; want none", got)
				}
				want := []string{"a", "b"} // at-least-once: delivered, not checkpointed
				if m.txn {
					want = nil // aborted with the transaction
				}
				if got := committed(t, c, eventsTopic); !slices.Equal(got, want) {
					t.Errorf("events visible: %v; want %v", got, want)
				}
			})
		}
	}
}

func wantTooLarge(topic string, cause error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var tl *RecordTooLargeError
		if !errors.As(err, &tl) {
			t.Fatalf("error %v; want a *RecordTooLargeError", err)
		}
		if tl.Topic != topic || !errors.Is(err, cause) {
			t.Errorf("RecordTooLargeError{Topic: %q, Err: %v}; want topic %q and %v", tl.Topic, tl.Err, topic, cause)
		}
	}
}

// TestAcceptedRecordOutlivesItsContext: a record Produce accepted is
// delivered even when the caller's context ends before the commit (the
// pipeline's context ends with the snapshot, the commit's with Commit).
func TestAcceptedRecordOutlivesItsContext(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newCluster(t)
			p := newProducer(t, c, m.txn, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			for _, k := range []string{"a", "b", "c"} {
				if err := p.Produce(ctx, event(k)); err != nil {
					t.Fatal(err)
				}
			}
			cancel()
			if err := p.Commit(context.Background(), checkpointRecord("1")); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got := committed(t, c, eventsTopic); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Errorf("events visible: %v; want a, b, c", got)
			}
		})
	}
}

// TestEndTransactionFaults: whatever happens to the commit request, a nil
// error from Commit means the events and the checkpoint are visible, and an
// error means nothing may be assumed: once the next instance's producer has
// taken the transactional id over, the transaction is visible entirely or
// not at all, never the events without their checkpoint [I2].
func TestEndTransactionFaults(t *testing.T) {
	type outcome int
	const (
		none outcome = iota
		all
		allOrNone // the broker may have applied the commit
	)
	tests := []struct {
		name    string
		control func(c *kfake.Cluster, kreq kmsg.Request) (kmsg.Response, error, bool)
		wantErr error // nil: Commit succeeds
		visible outcome
	}{
		{
			name: "answer lost, commit not applied",
			control: func(c *kfake.Cluster, _ kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				return nil, nil, true // never answered, never applied
			},
			wantErr: context.DeadlineExceeded,
			visible: none,
		},
		{
			name: "answer late, commit applied after Commit gave up",
			control: func(c *kfake.Cluster, _ kmsg.Request) (kmsg.Response, error, bool) {
				c.SleepControl(func() { time.Sleep(3 * time.Second) }) // beyond commitTimeout
				return nil, nil, false                                 // then applied as usual
			},
			wantErr: context.DeadlineExceeded,
			visible: allOrNone,
		},
		{
			name: "broker error, outcome unknown",
			control: func(_ *kfake.Cluster, kreq kmsg.Request) (kmsg.Response, error, bool) {
				resp := kreq.(*kmsg.EndTxnRequest).ResponseKind().(*kmsg.EndTxnResponse)
				resp.ErrorCode = kerr.UnknownServerError.Code
				return resp, nil, true
			},
			wantErr: kerr.UnknownServerError,
			visible: none,
		},
		{
			name: "connection dropped once",
			control: func(*kfake.Cluster, kmsg.Request) (kmsg.Response, error, bool) {
				return nil, errDropped, true
			},
			visible: all,
		},
		{
			name: "coordinator loading once",
			control: func(_ *kfake.Cluster, kreq kmsg.Request) (kmsg.Response, error, bool) {
				resp := kreq.(*kmsg.EndTxnRequest).ResponseKind().(*kmsg.EndTxnResponse)
				resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
				return resp, nil, true
			},
			visible: all,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // most cases wait for commitTimeout
			c := newCluster(t)
			p := newProducer(t, c, true, Options{})
			ctx := context.Background()
			produce(t, p, "a", "b", "c")
			var armed atomic.Bool
			armed.Store(true)
			c.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				if !armed.Load() {
					return nil, nil, false
				}
				return tt.control(c, kreq)
			})
			start := time.Now()
			err := p.Commit(ctx, checkpointRecord("1"))
			if took := time.Since(start); took > p.commitTimeout+time.Second {
				t.Errorf("Commit took %s; commitTimeout is %s", took, p.commitTimeout)
			}
			armed.Store(false)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Commit: %v; want success", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Commit: %v; want %v", err, tt.wantErr)
			}
			if err != nil {
				if err2 := p.Produce(ctx, event("d")); !errors.Is(err2, err) {
					t.Errorf("Produce after the failed commit: %v; want %v", err2, err)
				}
				// The next instance takes the transactional id over,
				// which ends the transaction one way or the other.
				p.Close()
				next := newProducer(t, c, true, Options{})
				if err := next.ClaimTransactionalID(ctx); err != nil {
					t.Fatalf("claiming the transactional id: %v", err)
				}
			}
			events, cps := committed(t, c, eventsTopic), committed(t, c, offsetsTopic)
			gotAll := slices.Equal(events, []string{"a", "b", "c"}) && len(cps) == 1
			gotNone := len(events) == 0 && len(cps) == 0
			switch {
			case tt.visible == all && !gotAll, tt.visible == none && !gotNone, tt.visible == allOrNone && !gotAll && !gotNone:
				t.Errorf("visible: events %v, checkpoints %d; want outcome %d (0 none, 1 all, 2 all or none)", events, len(cps), tt.visible)
			}
		})
	}
}

// TestFenced: a second producer with the same transactional.id fences the
// first, whose Commit then fails with ErrFenced, and whose fenced
// transaction is never visible.
func TestFenced(t *testing.T) {
	tests := []struct {
		name string
		// before runs on the first producer before the second claims
		// the transactional id; after, once it has.
		before, after func(*testing.T, *Producer)
		wantVisible   []string
	}{
		{
			name: "with a transaction open",
			before: func(t *testing.T, p *Producer) {
				produce(t, p, "a")
				if err := p.cl.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			after:       func(*testing.T, *Producer) {},
			wantVisible: nil,
		},
		{
			name: "between transactions",
			before: func(t *testing.T, p *Producer) {
				produce(t, p, "a")
				if err := p.Commit(context.Background(), checkpointRecord("1")); err != nil {
					t.Fatal(err)
				}
			},
			after:       func(t *testing.T, p *Producer) { produce(t, p, "b") },
			wantVisible: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			ctx := context.Background()
			first := newProducer(t, c, true, Options{})
			tt.before(t, first)
			second := newProducer(t, c, true, Options{})
			if err := second.ClaimTransactionalID(ctx); err != nil {
				t.Fatal(err)
			}
			tt.after(t, first)
			err := first.Commit(ctx, checkpointRecord("fenced"))
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("Commit of the fenced producer: %v; want ErrFenced", err)
			}
			if got := committed(t, c, eventsTopic); !slices.Equal(got, tt.wantVisible) {
				t.Errorf("events visible: %v; want %v", got, tt.wantVisible)
			}
			// The new owner works.
			produce(t, second, "z")
			if err := second.Commit(ctx, checkpointRecord("2")); err != nil {
				t.Fatalf("Commit of the new owner: %v", err)
			}
		})
	}
}

// TestDroppedConnections: a broker that drops connections either recovers,
// and Commit succeeds with everything visible once, or does not, and Commit
// fails within commitTimeout; it never reports success for records that
// were not delivered, and a stored checkpoint always has its events before
// it [I2].
func TestDroppedConnections(t *testing.T) {
	tests := []struct {
		name string
		// drop reports whether to close the connection instead of
		// answering the nth request (from 1) with this key. Never the
		// first request on a connection: a broker closing a connection
		// right after the handshake is what a TLS or SASL listener does
		// to a client without them, and franz-go gives up at once.
		drop     func(key kmsg.Key, nth int) bool
		delivery time.Duration // kafka.delivery_timeout; commitTimeout is twice that
		wantErr  bool
	}{
		{
			name: "now and then",
			drop: func(key kmsg.Key, nth int) bool {
				// Produce has a connection of its own: every second
				// request on it is never its first.
				return key == kmsg.Produce && nth%2 == 0 && nth <= 4 || key == kmsg.EndTxn && nth == 1
			},
			delivery: 2 * time.Second,
		},
		{
			name:     "every produce request",
			drop:     func(key kmsg.Key, nth int) bool { return key == kmsg.Produce && nth > 1 },
			delivery: time.Second, // franz-go's least
			wantErr:  true,
		},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel() // most cases wait for timeouts
				c := newCluster(t)
				p := newProducer(t, c, m.txn, Options{DeliveryTimeout: tt.delivery})
				var mu sync.Mutex
				seen := map[kmsg.Key]int{}
				dropped := 0
				armed := true
				c.Control(func(kreq kmsg.Request) (kmsg.Response, error, bool) {
					c.KeepControl()
					mu.Lock()
					defer mu.Unlock()
					if !armed {
						return nil, nil, false
					}
					key := kmsg.Key(kreq.Key())
					seen[key]++
					if tt.drop(key, seen[key]) {
						dropped++
						return nil, errDropped, true
					}
					return nil, nil, false
				})
				ctx := context.Background()
				// One event per produce request (linger is 5ms), so
				// that several requests meet the faults.
				for _, k := range []string{"a", "b", "c", "d"} {
					produce(t, p, k)
					time.Sleep(20 * time.Millisecond)
				}
				start := time.Now()
				err := p.Commit(ctx, checkpointRecord("1"))
				if took := time.Since(start); took > p.commitTimeout+time.Second {
					t.Errorf("Commit took %s; commitTimeout is %s", took, p.commitTimeout)
				}
				mu.Lock()
				armed = false
				if dropped == 0 {
					t.Error("no request was dropped: the test tests nothing")
				}
				mu.Unlock()
				if (err != nil) != tt.wantErr {
					t.Fatalf("Commit: %v; want error: %v", err, tt.wantErr)
				}
				p.Close()
				events, cps := committed(t, c, eventsTopic), committed(t, c, offsetsTopic)
				all := []string{"a", "b", "c", "d"}
				if err == nil && (len(cps) != 1 || !slices.Equal(events, all)) {
					t.Errorf("Commit succeeded, but visible: events %v, checkpoints %d; want each event once and the checkpoint", events, len(cps))
				}
				if len(cps) > 0 && !slices.Equal(slices.Compact(events), all) {
					t.Errorf("a checkpoint is stored, but not every event before it is visible: %v", events)
				}
			})
		}
	}
}

// TestCloseAbortsOpenTransaction: Close aborts the open transaction, so its
// records, although acknowledged, are never visible to a read_committed
// consumer, and the partition does not stay blocked behind them.
func TestCloseAbortsOpenTransaction(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	p := newProducer(t, c, true, Options{})
	// One key, so one partition: the record produced after the abort
	// is visible only if the transaction ended.
	for _, v := range []string{"open 1", "open 2"} {
		if err := p.Produce(ctx, &kgo.Record{Topic: eventsTopic, Key: []byte("k"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	after := newProducer(t, c, false, Options{})
	if err := after.Produce(ctx, &kgo.Record{Topic: eventsTopic, Key: []byte("k"), Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if err := after.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range committedRecords(t, c, eventsTopic) {
		got = append(got, string(r.Value))
	}
	if !slices.Equal(got, []string{"after"}) {
		t.Errorf("read_committed sees %q; want only the record produced after Close", got)
	}
}
