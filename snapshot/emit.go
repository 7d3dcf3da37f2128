package snapshot

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

type row struct {
	table *schema.Table
	vals  []any
	enc   capture.Encoded // encoded by the reader, when the handler can
}

// batchRows is how many rows cross from a reader to the emitter at once:
// per-row channel operations dominated the cost.
const batchRows = 256

// batcher collects one reader's rows into batches, encoding each row
// when the handler lets readers encode (capture.ParallelHandler).
type batcher struct {
	out    chan<- []row
	p      *TableProgress
	batch  []row
	enc    capture.Encoder
	source func(t *schema.Table, mark string) capture.SourceInfo
	c      capture.Change
}

func (b *batcher) add(ctx context.Context, r row) error {
	if b.batch == nil {
		b.batch = make([]row, 0, batchRows)
	}
	if b.enc != nil {
		// Encoded as a middle row; the emitter re-encodes the rows that
		// turn out to be the first and the last of the snapshot.
		b.c = capture.Change{Op: capture.OpRead, Table: r.table, After: r.vals, Source: b.source(r.table, "true")}
		r.enc = b.enc.Encode(&b.c)
	}
	b.batch = append(b.batch, r)
	if len(b.batch) == batchRows {
		return b.flush(ctx)
	}
	return nil
}

func (b *batcher) flush(ctx context.Context) error {
	if len(b.batch) == 0 {
		return nil
	}
	select {
	case b.out <- b.batch:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.p.Done.Add(int64(len(b.batch)))
	b.batch = nil
	return nil
}

// readFunc reads the rows of one table on one connection that meet cond
// (an SQL condition, "" for every row), handing them to b.
type readFunc[C any] func(ctx context.Context, conn C, t *schema.Table, cond string, b *batcher) error

// part is a part of one table that one reader reads at a time.
type part struct {
	table int    // index into the tables
	cond  string // SQL condition selecting the part, "" for the whole table
}

// wholeTables is one part per table.
func wholeTables(n int) []part {
	cs := make([]part, n)
	for i := range cs {
		cs[i] = part{table: i}
	}
	return cs
}

// readAndEmit reads the chunks on the connections in parallel, each
// connection taking the next part, and hands the rows to h on one
// goroutine (the pipeline is not safe for concurrent use). When h is a
// capture.ParallelHandler the readers encode their rows too.
func readAndEmit[C any](ctx context.Context, conns []C, tables []*schema.Table, chunks []part, tps []*TableProgress, read readFunc[C],
	h capture.Handler, pos checkpoint.Position, source func(t *schema.Table, mark string) capture.SourceInfo,
	o Options, prog *Progress, log *slog.Logger, start time.Time) error {
	var encs []capture.Encoder
	if ph, ok := h.(capture.ParallelHandler); ok {
		var err error
		if encs, err = ph.NewEncoders(ctx, tables, len(conns)); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	rows := make(chan []row, 16)
	var next atomic.Int64
	var readers errgroup.Group
	for ci, c := range conns {
		readers.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return nil
				}
				ch := chunks[i]
				b := &batcher{out: rows, p: tps[ch.table], source: source}
				if encs != nil {
					b.enc = encs[ci]
				}
				if err := read(gctx, c, tables[ch.table], ch.cond, b); err != nil {
					return err
				}
				if err := b.flush(gctx); err != nil {
					return err
				}
			}
		})
	}
	g.Go(func() error {
		// On a reader's error rows stays open: the emitter then stops on
		// the cancelled context instead of sending its held row as the
		// snapshot's last.
		if err := readers.Wait(); err != nil {
			return err
		}
		close(rows)
		return nil
	})
	g.Go(func() error { return emitRows(gctx, h, rows, pos, source, o, prog, log, start) })
	if err := g.Wait(); err != nil {
		return err
	}
	var total int64
	for _, tp := range tps {
		total += tp.Done.Load()
	}
	el := time.Since(start)
	log.Info("snapshot read", "rows", total, "seconds", el.Seconds(), "rows_per_second", float64(total)/max(el.Seconds(), 1e-9))
	return nil
}

// emitRows hands rows to the pipeline, holding one row back so the last
// row of the snapshot is marked snapshot=last, and commits every
// CommitRows rows at pos.
func emitRows(ctx context.Context, h capture.Handler, rows <-chan []row, pos checkpoint.Position,
	source func(t *schema.Table, mark string) capture.SourceInfo, o Options, prog *Progress, log *slog.Logger, start time.Time) error {
	var held *row
	count := 0
	var tick, barC <-chan time.Time
	if o.ProgressInterval > 0 {
		t := time.NewTicker(o.ProgressInterval)
		defer t.Stop()
		tick = t.C
	}
	if o.Terminal != nil {
		bar := time.NewTicker(time.Second)
		defer bar.Stop()
		barC = bar.C
		defer func() { _, _ = o.Terminal.Write([]byte("\n")) }()
	}
	c := &capture.Change{} // the pipeline does not retain it
	ph, _ := h.(capture.ParallelHandler)
	send := func(r *row, mark string) error {
		*c = capture.Change{Op: capture.OpRead, Table: r.table, After: r.vals, Source: source(r.table, mark)}
		var err error
		if ph != nil && r.enc != nil && mark == "true" {
			err = ph.Emit(ctx, c, r.enc)
		} else {
			err = h.Change(ctx, c)
		}
		if err != nil {
			return err
		}
		count++
		if o.CommitRows > 0 && count%o.CommitRows == 0 {
			return h.Commit(ctx, pos)
		}
		return nil
	}
	for {
		select {
		case b, ok := <-rows:
			if !ok {
				if held != nil {
					return send(held, "last")
				}
				return nil
			}
			for i := range b {
				if held != nil {
					mark := "true"
					if count == 0 {
						mark = "first"
					}
					if err := send(held, mark); err != nil {
						return err
					}
				}
				held = &b[i]
			}
		case <-tick:
			logProgress(log, prog, start)
		case <-barC:
			drawBar(o.Terminal, prog, start)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
