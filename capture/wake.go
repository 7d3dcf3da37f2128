package capture

import (
	"context"
	"time"
)

// Wake is the context a source's read loop blocks on, made once and used
// by every receive until its deadline passes: a context (and its timer)
// per received message cost about a tenth of a drain's CPU. The stream was
// quiet for the whole period when Quiet reports true after the deadline.
//
// A Wake belongs to one goroutine. Stop releases its timer.
type Wake struct {
	ctx    context.Context
	cancel context.CancelFunc
	got    int // messages received since ctx was made
}

// Context returns the current wake-up context, or, when it has ended, a
// new one ending at deadline (and no later than parent).
func (w *Wake) Context(parent context.Context, deadline time.Time) context.Context {
	if w.ctx == nil || w.ctx.Err() != nil {
		w.Stop()
		w.ctx, w.cancel = context.WithDeadline(parent, deadline)
		w.got = 0
	}
	return w.ctx
}

// Received notes a message received with the current context.
func (w *Wake) Received() { w.got++ }

// Quiet reports whether no message was received with the current context.
func (w *Wake) Quiet() bool { return w.got == 0 }

// Stop releases the current context.
func (w *Wake) Stop() {
	if w.cancel != nil {
		w.cancel()
	}
}
