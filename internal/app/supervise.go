package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// Fatal reports whether err must stop Sluice rather than restart the
// pipeline from the last checkpoint. Fatal: what a restart cannot fix
// without a person (configuration, prerequisites, a value that cannot be
// represented, a record Kafka rejects for size, a transaction timeout the
// brokers do not allow, an incompatible schema, being fenced by another
// instance). Everything else (a dropped
// connection, a restarted database or broker, a Kafka transaction whose
// outcome is unknown) is retried: the pipeline is rebuilt with a new
// producer and resumes from the last committed checkpoint, which is
// always safe because nothing after it was acknowledged [I2, I3].
func Fatal(err error) bool {
	var (
		ce  *config.Error
		se  *pgcapture.SetupError
		mse *mycapture.SetupError
		ve  *schema.ValueError
		tl  *emit.RecordTooLargeError
		tt  *emit.TransactionTimeoutError
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ve), errors.As(err, &tl), errors.As(err, &tt):
		return true
	case errors.As(err, &se):
		return !se.Transient
	case errors.As(err, &mse):
		return !mse.Transient
	case errors.Is(err, emit.ErrFenced), errors.Is(err, schema.ErrIncompatible):
		return true
	}
	return false
}

// errorKind classifies an error for the sluice_errors_total metric.
func errorKind(err error) string {
	var (
		ce  *config.Error
		se  *pgcapture.SetupError
		mse *mycapture.SetupError
		ve  *schema.ValueError
		tl  *emit.RecordTooLargeError
		tt  *emit.TransactionTimeoutError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &ce):
		return "config"
	case errors.As(err, &ve):
		return "value"
	case errors.As(err, &tl), errors.As(err, &tt), errors.Is(err, emit.ErrFenced), strings.HasPrefix(msg, "kafka"):
		return "kafka"
	case errors.Is(err, schema.ErrIncompatible), strings.HasPrefix(msg, "schema registry"):
		return "registry"
	case errors.As(err, &se), errors.As(err, &mse), strings.HasPrefix(msg, "postgres"), strings.HasPrefix(msg, "mysql"), strings.HasPrefix(msg, "snapshot"):
		return "source"
	}
	return "other"
}

// supervise runs once until it fails; after the pipeline has started
// successfully once, transient failures restart it with backoff.
func supervise(ctx context.Context, log *slog.Logger, st *State, stopper *Stopper, once func(started func()) error) error {
	backoff := time.Second
	everStarted := false
	for {
		began := time.Now()
		err := once(func() { everStarted = true })
		if err != nil && ctx.Err() == nil {
			st.Metrics.Error(errorKind(err))
		}
		if err == nil || ctx.Err() != nil || stopper.req.Load() || !everStarted || Fatal(err) {
			return err
		}
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		st.Restarts.Add(1)
		st.Phase.Store("restarting")
		log.Warn("pipeline failed; restarting from the last checkpoint", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return err
		case <-stopper.wait():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}
