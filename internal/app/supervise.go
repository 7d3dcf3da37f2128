package app

import (
	"context"
	"log/slog"
	"time"
)

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
		st.pipelineStopped()
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
