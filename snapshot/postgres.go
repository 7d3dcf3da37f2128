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
	Total int64 // estimate from pg_class.reltuples
	Done  atomic.Int64
}

// Postgres reads every planned table inside the slot's exported snapshot,
// with several connections importing the same snapshot, so the rows are
// exactly those committed before the slot's consistent point: streaming
// from that point neither misses nor repeats a change.
func Postgres(ctx context.Context, cfg *pgconn.Config, plan *pgcapture.Plan, h capture.Handler, o Options) error {
	o = o.withDefaults()
	log := o.Logger
	var conns []*pgx.Conn
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, c := range conns {
			_ = c.Close(cctx)
		}
	}()
	var chunks []chunk
	open := func() error {
		c, err := pgcapture.Connect(ctx, cfg)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if len(conns) == 1 {
			// Sizes are read outside the snapshot's transaction, so that
			// the locks they take end with the statement.
			if chunks, err = planChunks(ctx, c, plan, o.Parallelism); err != nil {
				return err
			}
		}
		if _, err := c.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			return fmt.Errorf("snapshot: begin: %w", err)
		}
		if _, err := c.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+plan.Snapshot+"'"); err != nil {
			return fmt.Errorf("snapshot: importing snapshot %s: %w", plan.Snapshot, err)
		}
		return lockTables(ctx, c, plan.Tables)
	}
	if err := open(); err != nil {
		return err
	}
	tables, err := pgcapture.Describe(ctx, conns[0], plan.Tables)
	if err != nil {
		return err
	}
	n := min(o.Parallelism, len(chunks))
	for len(conns) < n {
		if err := open(); err != nil {
			return err
		}
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
	log.Info("snapshot started", "tables", len(tables), "chunks", len(chunks), "connections", n, "lsn", plan.StartLSN.String())
	start := time.Now()

	ts := time.Now().UnixMilli()
	err = readAndEmit(ctx, conns, tables, chunks, tps, readTable, h, checkpoint.Position{LSN: plan.StartLSN},
		func(_ *schema.Table, mark string) capture.SourceInfo {
			return capture.SourceInfo{TsMs: ts, Snapshot: mark, DB: plan.Database, LSN: int64(plan.StartLSN)}
		}, o, prog, log, start)
	if err != nil {
		return err
	}
	return nil
}

// Large tables are read in ctid ranges by several connections at once
// (Postgres 14 and later scan a ctid range without reading the rest of
// the table). A table is split when it has at least splitMinPages pages,
// into ranges of at least chunkMinPages pages, at most one per
// connection.
const (
	splitMinPages = 4096 // 32 MiB at the default 8 KiB block size
	chunkMinPages = 1024
)

// planChunks splits the plan's tables into the parts the readers take.
// The ranges are of the table's current size; the last range is open so
// that no page is left out whatever the size when it is read.
func planChunks(ctx context.Context, c *pgx.Conn, plan *pgcapture.Plan, parallelism int) ([]chunk, error) {
	var version int
	if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, fmt.Errorf("snapshot: server version: %w", err)
	}
	var chunks []chunk
	for i, pt := range plan.Tables {
		var kind string
		var pages int64
		if err := c.QueryRow(ctx, `SELECT relkind::text, pg_relation_size(oid) / current_setting('block_size')::bigint
			FROM pg_class WHERE oid = $1`, pt.RelID).Scan(&kind, &pages); err != nil {
			return nil, fmt.Errorf("snapshot: size of %s: %w", pt.ID, err)
		}
		k := int64(1)
		if version >= 140000 && kind == "r" && pages >= splitMinPages {
			k = min(int64(parallelism), pages/chunkMinPages)
		}
		if k <= 1 {
			chunks = append(chunks, chunk{table: i})
			continue
		}
		step := (pages + k - 1) / k
		for j := int64(0); j < k; j++ {
			cond := fmt.Sprintf("ctid >= '(%d,0)'::tid", j*step)
			if j < k-1 {
				cond += fmt.Sprintf(" AND ctid < '(%d,0)'::tid", (j+1)*step)
			}
			chunks = append(chunks, chunk{table: i, cond: cond})
		}
	}
	return chunks, nil
}

// lockTimeout bounds the wait for the tables' locks.
const lockTimeout = "10s"

// lockTables takes every captured table's ACCESS SHARE lock on every
// snapshot connection before any reading, as pg_dump does, for two
// reasons. A TRUNCATE or a rewriting ALTER TABLE is not MVCC-safe: run
// during the snapshot on a table not read yet, the snapshot would see
// that table empty. And a lock a reader took later could queue behind an
// ALTER TABLE that itself waits for another connection of the snapshot
// (one that read part of the table), whose transaction ends only with the
// whole snapshot: a wait Postgres cannot see as a deadlock. A lock that
// cannot be had within lockTimeout (a DDL holds or awaits the table)
// fails the snapshot, which is retried once the connections are closed
// and the DDL has gone through.
func lockTables(ctx context.Context, c *pgx.Conn, tables []pgcapture.TableRef) error {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
	}
	q := "SET LOCAL lock_timeout = '" + lockTimeout + "'; LOCK TABLE " + strings.Join(names, ", ") +
		" IN ACCESS SHARE MODE; SET LOCAL lock_timeout = DEFAULT"
	if _, err := c.Exec(ctx, q); err != nil {
		return fmt.Errorf("snapshot: locking the captured tables (a concurrent ALTER TABLE, TRUNCATE or the like holds or awaits one; the snapshot is retried): %w", err)
	}
	return nil
}

func readTable(ctx context.Context, c *pgx.Conn, t *schema.Table, cond string, b *batcher) error {
	// COPY rather than SELECT: Postgres spends about a third of the CPU
	// on it, and its text format is the values' text output, escaped.
	q := "COPY (SELECT "
	for i, col := range t.Columns {
		if i > 0 {
			q += ", "
		}
		q += pgx.Identifier{col.Name}.Sanitize()
	}
	q += " FROM " + pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
	if cond != "" {
		q += " WHERE " + cond
	}
	q += ") TO STDOUT"
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
