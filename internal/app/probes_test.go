package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/emit"
)

// fakeClock is the probes' clock in these tests: it moves only when the
// test says so.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// probeRig is a State with a fake clock and the hooks a run installs.
type probeRig struct {
	st    *State
	clock *fakeClock
	kafka emit.Options
}

func newProbeRig(readiness, liveness time.Duration) *probeRig {
	r := &probeRig{st: NewState(), clock: &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}}
	r.st.probe.now = r.clock.now
	r.st.probe.lastChange = r.clock.t
	r.st.SetProbeTimeouts(readiness, liveness)
	r.st.hookKafka(&r.kafka)
	return r
}

// What the parts of a run report to the probes.
func (r *probeRig) event()    { r.st.Metrics.Bytes.Add(120) } // the pipeline produced a change event
func (r *probeRig) position() { r.st.sourcePosition() }       // the source reported a commit or idle position
func (r *probeRig) ack() {
	r.kafka.OnAck(&kgo.Record{Timestamp: r.clock.t.Add(-3 * time.Millisecond)})
}
func (r *probeRig) commitBegins() { r.kafka.OnCommit(true) }
func (r *probeRig) commitEnds()   { r.kafka.OnCommit(false) }

// checkpointed is what the pipeline's metrics record for a durable
// checkpoint: one more commit, every produced event covered.
func (r *probeRig) checkpointed() {
	r.st.Metrics.Commits.Add(1)
	r.st.Metrics.Abandon()
}

// run moves the clock by d in steps of 10s, the kubelet's probe period,
// doing each (when not nil) and sampling the progress counters at every
// step, as the probes and ServeHTTP's sampler do.
func (r *probeRig) run(d time.Duration, each func(r *probeRig)) {
	const step = 10 * time.Second
	for left := d; left > 0; left -= step {
		r.clock.t = r.clock.t.Add(min(step, left))
		if each != nil {
			each(r)
		}
		r.st.sinceProgress()
	}
}

type probeCase struct {
	name  string
	setup func(r *probeRig) // the state reached before the clock runs
	each  func(r *probeRig) // what happens every 10s while it runs; nil: nothing
	run   time.Duration
	want  bool
	why   string // the reason, up to its first '('
}

func checkProbe(t *testing.T, tc probeCase, readiness, liveness time.Duration, probe func(*State) (bool, string)) {
	t.Helper()
	r := newProbeRig(readiness, liveness)
	r.run(10*time.Second, nil) // a first sample
	if tc.setup != nil {
		tc.setup(r)
	}
	r.st.sinceProgress()
	r.run(tc.run, tc.each)
	ok, why := probe(r.st)
	if ok != tc.want {
		t.Errorf("ok = %v (%q), want %v", ok, why, tc.want)
	}
	if strings.ContainsRune(why, '\n') {
		t.Errorf("reason %q is not one line", why)
	}
	if got, _, _ := strings.Cut(why, " ("); got != tc.why {
		t.Errorf("reason %q, want %q", why, tc.why)
	}
}

func streaming(r *probeRig) {
	r.st.Phase.Store("streaming")
	r.position()
}

func TestReady(t *testing.T) {
	tests := []probeCase{
		{name: "starting", want: false, why: "not ready: starting"},
		{name: "during the snapshot, although rows flow", setup: func(r *probeRig) { r.st.Phase.Store("snapshot") },
			each: (*probeRig).event, run: time.Minute, want: false, why: "not ready: snapshot"},
		{name: "restarting after a failure", setup: func(r *probeRig) { streaming(r); r.st.Phase.Store("restarting") },
			want: false, why: "not ready: restarting"},
		{name: "streaming before the source reported a position", setup: func(r *probeRig) { r.st.Phase.Store("streaming") },
			want: false, why: "not ready: no position from the source yet"},
		{name: "streaming and idle positions keep coming", setup: streaming, each: (*probeRig).position,
			run: 10 * time.Minute, want: true, why: "ready"},
		{name: "no progress for less than the timeout", setup: streaming, run: 50 * time.Second, want: true, why: "ready"},
		{name: "no progress for longer than the timeout", setup: streaming, run: 70 * time.Second,
			want: false, why: "not ready: no progress for 1m10s"},
		{name: "a source transaction streaming for ten minutes", setup: streaming, each: (*probeRig).event,
			run: 10 * time.Minute, want: true, why: "ready"},
		{name: "only Kafka acknowledgements", setup: streaming, each: (*probeRig).ack, run: 5 * time.Minute, want: true, why: "ready"},
		{name: "only checkpoints", setup: streaming, each: (*probeRig).checkpointed, run: 5 * time.Minute, want: true, why: "ready"},
		{name: "a long transaction that stalls", setup: streaming,
			each: func(r *probeRig) {
				if r.st.Metrics.Bytes.Load() < 20*120 {
					r.event()
				}
			},
			run: 5 * time.Minute, want: false, why: "not ready: no progress for 1m40s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkProbe(t, tc, time.Minute, 5*time.Minute, (*State).Ready)
		})
	}
}

func TestLive(t *testing.T) {
	tests := []probeCase{
		{name: "starting", want: true, run: time.Hour, why: "ok"},
		{name: "streaming and idle without any progress", setup: streaming, run: time.Hour, want: true, why: "ok"},
		{name: "everything checkpointed, then quiet", setup: func(r *probeRig) { streaming(r); r.event(); r.position(); r.checkpointed() },
			run: time.Hour, want: true, why: "ok"},
		{name: "events not checkpointed, stalled for less than the timeout",
			setup: func(r *probeRig) { streaming(r); r.event(); r.position() }, run: 4*time.Minute + 50*time.Second, want: true, why: "ok"},
		{name: "events not checkpointed, stalled for longer than the timeout",
			setup: func(r *probeRig) { streaming(r); r.event(); r.position() }, run: 5*time.Minute + 10*time.Second,
			want: false, why: "not live: events were produced but not checkpointed, and no progress for 5m10s"},
		{name: "the source stalled inside a transaction",
			setup: func(r *probeRig) { streaming(r); r.event() }, run: 6 * time.Minute,
			want: false, why: "not live: the source is inside a transaction, and no progress for 6m0s"},
		{name: "a checkpoint commit hangs",
			setup: func(r *probeRig) { streaming(r); r.commitBegins() }, run: 6 * time.Minute,
			want: false, why: "not live: a checkpoint commit is under way, and no progress for 6m0s"},
		{name: "a commit that ended is no longer pending",
			setup: func(r *probeRig) { streaming(r); r.commitBegins(); r.commitEnds() }, run: time.Hour, want: true, why: "ok"},
		{name: "a slow commit while Kafka acknowledges",
			setup: func(r *probeRig) { streaming(r); r.event(); r.commitBegins() }, each: (*probeRig).ack,
			run: time.Hour, want: true, why: "ok"},
		{name: "a long source transaction that keeps streaming", setup: streaming, each: (*probeRig).event,
			run: time.Hour, want: true, why: "ok"},
		{name: "the snapshot stalls",
			setup: func(r *probeRig) { r.st.Phase.Store("snapshot"); r.event() }, run: 6 * time.Minute,
			want: false, why: "not live: events were produced but not checkpointed, and no progress for 6m0s"},
		{name: "between restarts the failed pipeline's work is not pending",
			setup: func(r *probeRig) { streaming(r); r.event(); r.st.Phase.Store("restarting"); r.st.pipelineStopped() },
			run:   time.Hour, want: true, why: "ok"},
		{name: "progress resumes after a stall",
			setup: func(r *probeRig) { streaming(r); r.event(); r.run(10*time.Minute, nil); r.ack() },
			run:   10 * time.Second, want: true, why: "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkProbe(t, tc, time.Minute, 5*time.Minute, (*State).Live)
		})
	}
	t.Run("a liveness timeout of 0 turns the check off", func(t *testing.T) {
		checkProbe(t, probeCase{setup: func(r *probeRig) { streaming(r); r.event() }, run: 24 * time.Hour, want: true, why: "ok"},
			time.Minute, 0, (*State).Live)
	})
}

func TestProbeHandler(t *testing.T) {
	tests := []struct {
		name     string
		ok       bool
		why      string
		wantCode int
	}{
		{"passing", true, "ready", http.StatusOK},
		{"failing", false, "not live: a checkpoint commit is under way, and no progress for 6m0s", http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			probeHandler(func() (bool, string) { return tc.ok, tc.why })(rec, httptest.NewRequest("GET", "/healthz", nil))
			if rec.Code != tc.wantCode || rec.Body.String() != tc.why+"\n" {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.wantCode, tc.why+"\n")
			}
		})
	}
}
