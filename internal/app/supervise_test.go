package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// TestFatal: what a restart cannot fix stops Sluice; everything else
// restarts the pipeline from the last checkpoint. Errors are classified by
// type, also when wrapped.
func TestFatal(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("pipeline: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"configuration", &config.Error{Key: "source.dsn", Msg: "is required"}, true},
		{"unrepresentable value", wrap(&schema.ValueError{Column: "c", Err: errors.New("out of range")}), true},
		{"record too large", wrap(&emit.RecordTooLargeError{Topic: "t", Bytes: 2 << 20, Err: kerr.MessageTooLarge}), true},
		{"transaction timeout above the brokers' maximum", wrap(&emit.TransactionTimeoutError{
			Timeout: time.Hour, BrokerMax: 15 * time.Minute, Broker: 1}), true},
		{"transaction timeout refused by the broker", wrap(&emit.TransactionTimeoutError{
			Timeout: time.Hour, Broker: -1, Err: kerr.InvalidTransactionTimeout}), true},
		{"fenced", wrap(fmt.Errorf("%w: %w", emit.ErrFenced, kerr.ProducerFenced)), true},
		{"incompatible schema", wrap(schema.ErrIncompatible), true},
		{"postgres prerequisite", &pgcapture.SetupError{What: "postgres: wal_level", Err: errors.New("is replica")}, true},
		{"postgres unreachable", &pgcapture.SetupError{What: "postgres: connect", Err: errors.New("refused"), Transient: true}, false},
		{"kafka unreachable", wrap(fmt.Errorf("kafka: flush: %w", context.DeadlineExceeded)), false},
		{"broker error", wrap(fmt.Errorf("kafka: commit transaction: %w", kerr.UnknownServerError)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fatal(tt.err); got != tt.want {
				t.Errorf("Fatal(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}
