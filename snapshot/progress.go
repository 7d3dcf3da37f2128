package snapshot

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicecdc/sluice/schema"
)

// Progress counts rows read per table, for logs and metrics. It is safe
// for concurrent use.
type Progress struct {
	mu     sync.Mutex
	tables []*TableProgress
}

// NewProgress returns a progress that tracks tables from the start, for
// a reader of progress (logs, metrics) to be exercised without a snapshot.
// A snapshot replaces them with the tables it reads.
func NewProgress(tables ...*TableProgress) *Progress {
	return &Progress{tables: tables}
}

func (p *Progress) set(ts []*TableProgress) {
	p.mu.Lock()
	p.tables = ts
	p.mu.Unlock()
}

// Tables returns the per-table progress.
func (p *Progress) Tables() []*TableProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tables
}

// TableProgress is the progress of one table.
type TableProgress struct {
	ID    schema.TableID
	Total int64 // the source's estimate (pg_class.reltuples, information_schema.TABLES.TABLE_ROWS)
	Done  atomic.Int64
	// started (unix ns) and startRows: when this run began reading the
	// table, and the rows delivered by then, for the rate and ETA.
	started   atomic.Int64
	startRows atomic.Int64
}

// start notes that this run begins reading the table now.
func (tp *TableProgress) start() {
	if tp.started.Load() != 0 {
		return // a range of the table started already
	}
	tp.startRows.Store(tp.Done.Load())
	tp.started.Store(time.Now().UnixNano())
}

// ETA returns the time left at the rate since this run began reading the
// table; ok is false before any row or without an estimate.
func (tp *TableProgress) ETA() (eta time.Duration, ok bool) {
	started := tp.started.Load()
	done := tp.Done.Load()
	read := done - tp.startRows.Load()
	if started == 0 || read <= 0 || tp.Total <= 0 {
		return 0, false
	}
	el := time.Since(time.Unix(0, started))
	left := max(tp.Total-done, 0)
	return time.Duration(float64(el) * float64(left) / float64(read)), true
}

func logProgress(log *slog.Logger, prog *Progress, start time.Time) {
	el := time.Since(start).Seconds()
	for _, tp := range prog.Tables() {
		done := tp.Done.Load()
		rate := float64(done) / max(el, 1e-9)
		args := []any{"table", tp.ID.String(), "rows", done, "total_estimate", tp.Total, "rows_per_second", int64(rate)}
		if tp.Total > done && rate > 0 {
			args = append(args, "eta_seconds", int64(float64(tp.Total-done)/rate))
		}
		log.Info("snapshot progress", args...)
	}
}
