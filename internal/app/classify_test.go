package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// TestFatal: every class of error is decided by its type, wrapped or not,
// and reported under its kind in sluice_errors_total.
func TestFatal(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("pipeline: %w", err) }
	tests := []struct {
		name  string
		err   error
		fatal bool
		kind  string
	}{
		{"configuration", &config.Error{Key: "source.dsn", Msg: "bad"}, true, "config"},
		{"source prerequisite", &capture.SetupError{What: "wal_level", Err: errors.New("is replica")}, true, "source"},
		{"source unreachable", &capture.SetupError{What: "postgres", Err: errors.New("refused"), Transient: true}, false, "source"},
		{"XA transaction in the binlog", capture.FromSource(&capture.UnsupportedError{What: "binlog", Err: errors.New("XA")}), true, "source"},
		{"unsupported column type", &schema.TableError{Table: schema.TableID{Namespace: "public", Name: "t"}, Column: "c", Type: "tsvector", Err: errors.New("no mapping")}, true, "value"},
		{"key column excluded", wrap(&schema.TableError{Table: schema.TableID{Namespace: "public", Name: "t"}, Column: "id", Err: errors.New("key")}), true, "value"},
		{"value cannot be represented", wrap(&schema.ValueError{Column: "n", Err: errors.New("NaN")}), true, "value"},
		{"record too large", wrap(&emit.RecordTooLargeError{Topic: "t", Bytes: 2 << 20, Err: kerr.MessageTooLarge}), true, "kafka"},
		{"transaction timeout above the brokers' maximum", wrap(&emit.TransactionTimeoutError{
			Timeout: time.Hour, BrokerMax: 15 * time.Minute, Broker: 1}), true, "kafka"},
		{"transaction timeout refused by the broker", wrap(&emit.TransactionTimeoutError{
			Timeout: time.Hour, Broker: -1, Err: kerr.InvalidTransactionTimeout}), true, "kafka"},
		{"kafka unreachable", wrap(fmt.Errorf("%w: flush: %w", emit.ErrKafka, context.DeadlineExceeded)), false, "kafka"},
		{"broker error", wrap(fmt.Errorf("%w: commit transaction: %w", emit.ErrKafka, kerr.UnknownServerError)), false, "kafka"},
		{"fenced", fmt.Errorf("%w: %w", emit.ErrFenced, kerr.ProducerFenced), true, "kafka"},
		{"topic authorization", wrap(kerr.TopicAuthorizationFailed), true, "kafka"},
		{"broker not available", wrap(kerr.NotLeaderForPartition), false, "kafka"},
		{"incompatible schema", fmt.Errorf("subject: %w", schema.ErrIncompatible), true, "registry"},
		{"registry unreachable", fmt.Errorf("%w not reachable: %w", schema.ErrRegistry, errors.New("refused")), false, "registry"},
		{"replication connection lost", capture.FromSource(errors.New("postgres: replication stream: EOF")), false, "source"},
		{"cancelled", context.Canceled, false, "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Fatal(tc.err); got != tc.fatal {
				t.Errorf("Fatal(%v) = %v, want %v", tc.err, got, tc.fatal)
			}
			if got := errorKind(tc.err); got != tc.kind {
				t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.kind)
			}
		})
	}
}

// TestFromSourceKeepsChain: marking an error as the source's keeps its
// text and its chain.
func TestFromSourceKeepsChain(t *testing.T) {
	inner := &capture.SetupError{What: "slot", Err: errors.New("dropped")}
	err := capture.FromSource(inner)
	var se *capture.SetupError
	if !errors.As(err, &se) || se != inner || err.Error() != inner.Error() || !errors.Is(err, capture.ErrSource) {
		t.Fatalf("FromSource lost the chain or changed the text: %v", err)
	}
	if capture.FromSource(nil) != nil {
		t.Fatal("FromSource(nil) is not nil")
	}
}
