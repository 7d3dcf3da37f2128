package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/emit"
)

// Default probe thresholds (http.readiness_timeout, http.liveness_timeout).
const (
	DefaultReadinessTimeout = time.Minute
	DefaultLivenessTimeout  = 5 * time.Minute
)

// probes is the bookkeeping behind /readyz and /healthz.
//
// Both judge progress: a row change handled (the pipeline's Bytes grows
// with every produced event, snapshot rows included), a Kafka
// acknowledgement, a checkpoint committed (the pipeline's Commits) or a
// commit or idle position reported by the source. The paths that make
// progress only add to counters; nothing there reads the clock. A probe,
// or the sampler ServeHTTP runs every second, notes when the counters'
// sum last changed, so a stall is measured to within a second.
type probes struct {
	readinessTimeout time.Duration
	livenessTimeout  time.Duration // 0: the liveness check is off
	now              func() time.Time

	acks      atomic.Uint64 // records acknowledged by Kafka
	positions atomic.Uint64 // commits and idle positions the source reported while streaming
	// positionBytes is the pipeline's Bytes at the last of those: more
	// bytes since then means the source is inside a transaction.
	positionBytes atomic.Uint64
	committing    atomic.Int32 // checkpoint commits under way

	mu         sync.Mutex
	lastSum    uint64
	lastChange time.Time
}

// SetProbeTimeouts sets how long /readyz and /healthz tolerate no
// progress (see config.HTTP); liveness 0 turns the liveness check off.
// Call it before the probes are served.
func (s *State) SetProbeTimeouts(readiness, liveness time.Duration) {
	s.probe.readinessTimeout, s.probe.livenessTimeout = readiness, liveness
}

// sinceProgress samples the progress counters and returns how long they
// have not moved.
func (s *State) sinceProgress() time.Duration {
	sum := s.Metrics.Bytes.Load() + s.Metrics.Commits.Load() + s.probe.acks.Load() + s.probe.positions.Load()
	now := s.probe.now()
	s.probe.mu.Lock()
	defer s.probe.mu.Unlock()
	if sum != s.probe.lastSum {
		s.probe.lastSum, s.probe.lastChange = sum, now
	}
	return max(0, now.Sub(s.probe.lastChange))
}

// sampleProgress samples the progress counters every interval until ctx
// ends, so that the probes' measure of a stall does not depend on how
// often they are asked.
func (s *State) sampleProgress(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sinceProgress()
		}
	}
}

// sourcePosition records a commit or idle position from the source.
func (s *State) sourcePosition() {
	s.probe.positionBytes.Store(s.Metrics.Bytes.Load())
	s.probe.positions.Add(1)
}

// pipelineStopped forgets the work of a pipeline that failed: the next
// one starts again from the checkpoint, so that work is no longer
// pending.
func (s *State) pipelineStopped() {
	s.Metrics.Abandon()
	s.probe.positionBytes.Store(s.Metrics.Bytes.Load())
}

// hookKafka makes the producers built from o report acknowledgements and
// checkpoint commits.
func (s *State) hookKafka(o *emit.Options) {
	o.OnAck = func(r *kgo.Record) {
		s.probe.acks.Add(1)
		s.Metrics.Acked(r)
	}
	o.OnCommit = func(begun bool) {
		if begun {
			s.probe.committing.Add(1)
		} else {
			s.probe.committing.Add(-1)
		}
	}
}

// pendingWork names the work that waits to be finished, or returns "".
func (s *State) pendingWork() string {
	phase, _ := s.Phase.Load().(string)
	switch {
	case s.probe.committing.Load() > 0:
		return "a checkpoint commit is under way"
	case (phase == "streaming" || phase == "stopping") && s.Metrics.Bytes.Load() != s.probe.positionBytes.Load():
		return "the source is inside a transaction"
	case s.Metrics.Unsettled():
		return "events were produced but not checkpointed"
	}
	return ""
}

// Ready reports whether the instance is streaming and not stalled: it
// made progress within the readiness timeout. A long source transaction
// is progress row by row, so it does not make the instance unready.
func (s *State) Ready() (bool, string) {
	phase, _ := s.Phase.Load().(string)
	if phase != "streaming" {
		return false, "not ready: " + phase
	}
	if s.probe.positions.Load() == 0 {
		return false, "not ready: no position from the source yet"
	}
	if age := s.sinceProgress(); age > s.probe.readinessTimeout {
		return false, fmt.Sprintf("not ready: no progress for %s (no row change, Kafka acknowledgement, checkpoint or idle position; http.readiness_timeout is %s)",
			age.Truncate(time.Second), s.probe.readinessTimeout)
	}
	return true, "ready"
}

// Live reports whether the pipeline is not wedged: it fails only when
// work is pending (events produced but not checkpointed, the source
// inside a transaction, or a checkpoint commit under way) and there was
// no progress for the liveness timeout. An idle instance is live, and so
// is one between pipeline restarts (supervise retries by itself).
func (s *State) Live() (bool, string) {
	if s.probe.livenessTimeout <= 0 {
		return true, "ok"
	}
	age := s.sinceProgress()
	if age <= s.probe.livenessTimeout {
		return true, "ok"
	}
	work := s.pendingWork()
	if work == "" {
		return true, "ok"
	}
	return false, fmt.Sprintf("not live: %s, and no progress for %s (http.liveness_timeout is %s)",
		work, age.Truncate(time.Second), s.probe.livenessTimeout)
}

// probeHandler answers 200, or 503 when the probe fails, with the
// probe's one-line reason.
func probeHandler(probe func() (bool, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		ok, why := probe()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = fmt.Fprintln(w, why)
	}
}
