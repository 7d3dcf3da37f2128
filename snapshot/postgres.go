// Package snapshot reads the existing rows of captured tables
// consistently with the position where streaming starts, and hands them
// to the pipeline as op "r" events.
package snapshot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicecdc/sluice/capture"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
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

// Progress counts rows read per table, for logs and metrics. It is safe
// for concurrent use.
type Progress struct {
	mu     sync.Mutex
	tables []*TableProgress
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
	Total int64 // estimate from pg_class.reltuples
	Done  atomic.Int64
}

// Postgres reads every planned table inside the slot's exported snapshot,
// with several connections importing the same snapshot, so the rows are
// exactly those committed before the slot's consistent point: streaming
// from that point neither misses nor repeats a change.
func Postgres(ctx context.Context, cfg *pgconn.Config, plan *pgcapture.Plan, h capture.Handler, o Options) error {
	if o.Parallelism <= 0 {
		o.Parallelism = 4
	}
	if o.CommitRows <= 0 {
		o.CommitRows = 10000
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 10 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	n := min(o.Parallelism, len(plan.Tables))
	conns := make([]*pgx.Conn, 0, n)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, c := range conns {
			_ = c.Close(cctx)
		}
	}()
	for i := 0; i < n; i++ {
		c, err := pgcapture.Connect(ctx, cfg)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if _, err := c.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			return fmt.Errorf("snapshot: begin: %w", err)
		}
		if _, err := c.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+plan.Snapshot+"'"); err != nil {
			return fmt.Errorf("snapshot: importing snapshot %s: %w", plan.Snapshot, err)
		}
	}
	tables, err := pgcapture.Describe(ctx, conns[0], plan.Tables)
	if err != nil {
		return err
	}
	prog := o.Progress
	if prog == nil {
		prog = &Progress{}
	}
	tps := make([]*TableProgress, len(tables))
	for i, t := range tables {
		tps[i] = &TableProgress{ID: t.ID}
		var est float64
		_ = conns[0].QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = $1", plan.Tables[i].RelID).Scan(&est)
		tps[i].Total = int64(max(est, 0))
	}
	prog.set(tps)
	for _, t := range tables {
		if err := h.SchemaChange(ctx, &capture.SchemaChange{Table: t, Database: plan.Database,
			Position: checkpoint.Position{LSN: plan.StartLSN}, TsMs: time.Now().UnixMilli()}); err != nil {
			return err
		}
	}
	log.Info("snapshot started", "tables", len(tables), "connections", n, "lsn", plan.StartLSN.String())
	start := time.Now()

	ts := time.Now().UnixMilli()
	err = readAndEmit(ctx, conns, tables, tps, readTable, h, checkpoint.Position{LSN: plan.StartLSN},
		func(_ *schema.Table, mark string) capture.SourceInfo {
			return capture.SourceInfo{TsMs: ts, Snapshot: mark, DB: plan.Database, LSN: int64(plan.StartLSN)}
		}, o, prog, log, start)
	if err != nil {
		return err
	}
	return nil
}

func readTable(ctx context.Context, c *pgx.Conn, t *schema.Table, b *batcher) error {
	// COPY rather than SELECT: Postgres spends about a third of the CPU
	// on it, and its text format is the values' text output, escaped.
	q := "COPY (SELECT "
	for i, col := range t.Columns {
		if i > 0 {
			q += ", "
		}
		q += pgx.Identifier{col.Name}.Sanitize()
	}
	q += " FROM " + pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize() + ") TO STDOUT"
	r := &copyReader{ctx: ctx, ncols: len(t.Columns), emit: func(vals []any) error {
		return b.add(ctx, row{table: t, vals: vals})
	}}
	if _, err := c.PgConn().CopyTo(ctx, r, q); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("snapshot: reading %s: %w", t.ID, err)
	}
	if err := r.finish(); err != nil {
		return fmt.Errorf("snapshot: reading %s: %w", t.ID, err)
	}
	return nil
}

// drawBar redraws one line: rows done of the estimate, rate and ETA.
func drawBar(w io.Writer, prog *Progress, start time.Time) {
	var done, total int64
	for _, tp := range prog.Tables() {
		done += tp.Done.Load()
		total += max(tp.Total, tp.Done.Load())
	}
	el := time.Since(start).Seconds()
	rate := float64(done) / max(el, 1e-9)
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 30
	n := int(frac * width)
	eta := "?"
	if rate > 0 && total > done {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).String()
	}
	fmt.Fprintf(w, "\rsnapshot [%s%s] %3.0f%% %d/%d rows %.0f rows/s ETA %s   ",
		strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, done, total, rate, eta)
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
