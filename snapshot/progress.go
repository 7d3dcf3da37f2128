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
