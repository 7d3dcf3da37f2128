package snapshot

import (
	"io"
	"log/slog"
	"time"
)

// Options configure a snapshot.
type Options struct {
	Parallelism      int
	ProgressInterval time.Duration
	// CommitRows is how many rows go into one batch before the pipeline
	// may commit (bounds the size of a Kafka transaction).
	CommitRows int
	Logger     *slog.Logger
	Progress   *Progress
	// Terminal, when set (stderr is a terminal), gets a progress bar
	// redrawn every second.
	Terminal io.Writer
}

// withDefaults fills the options left zero.
func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = 4
	}
	if o.CommitRows <= 0 {
		o.CommitRows = 10000
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
