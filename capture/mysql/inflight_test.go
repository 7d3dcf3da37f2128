package mysql

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sluicecdc/sluice/checkpoint"
)

// idleCounter is a recorder that also counts Idle calls.
type idleCounter struct {
	recorder
	idles []checkpoint.Position
}

func (r *idleCounter) Idle(_ context.Context, pos checkpoint.Position) error {
	r.idles = append(r.idles, pos)
	return nil
}

// TestI1NoIdleWhileInFlight guards [I1] on the paths that report the last
// boundary as idle (the quiet-stream timer and binlog heartbeats) and on a
// graceful stop: after the binlog connection broke in the middle of a
// transaction, the part already delivered is in the pipeline's open batch
// until the replay reaches the transaction's end, so the source is not idle
// and a stop must not be taken for one at a boundary.
func TestI1NoIdleWhileInFlight(t *testing.T) {
	boundary := checkpoint.Position{File: "binlog.000001", Pos: 400}
	tests := []struct {
		name     string
		set      func(s *Source)
		inFlight bool
	}{
		{"nothing in flight", func(*Source) {}, false},
		{"transaction open", func(s *Source) { s.beginTxn(); s.txn.delivered = 3 }, true},
		{"reconnecting after a break mid-transaction", func(s *Source) {
			s.beginTxn()
			s.txn.delivered = 3
			// What Run does after the connection broke.
			s.skip, s.skipGTID = s.txn.delivered, "0-1-7"
			s.txn = txn{}
		}, true},
		{"replay under way, delivered part not yet skipped", func(s *Source) {
			s.skip = 2
			s.beginTxn()
			s.txn.gtid = "0-1-7"
		}, true},
		{"replay done at the transaction's end", func(s *Source) { s.skip = 0; s.txn = txn{} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSource(Config{Conn: &ConnConfig{}, Logger: slog.New(slog.DiscardHandler)})
			s.srv = &Server{Flavor: FlavorMariaDB}
			if err := s.SetStart(boundary); err != nil {
				t.Fatal(err)
			}
			tc.set(s)
			if got := s.inFlight(); got != tc.inFlight {
				t.Fatalf("inFlight() = %v, want %v", got, tc.inFlight)
			}
			h := &idleCounter{}
			if err := s.idle(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			if tc.inFlight && len(h.idles) != 0 {
				t.Fatalf("Idle(%v) reported with part of a transaction in flight", h.idles[0])
			}
			if !tc.inFlight && (len(h.idles) != 1 || h.idles[0] != boundary) {
				t.Fatalf("idle reported %v, want one Idle at %v", h.idles, boundary)
			}
		})
	}
}
