package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// The engine reads tables in chunks between watermarks while the source
// streams, after Netflix's DBLog (docs/design.md, "Snapshots"). Its
// invariants, cited in the code as [Sn]:
//
//	S1. A chunk is one short read in key order: no source transaction and
//	    no table lock outlives it.
//	S2. A chunk's rows are handed over at its high watermark, in stream
//	    order, without the rows whose key changed in the stream between
//	    its low and high watermarks: those changes are newer than the read
//	    or as new, so a snapshot row never overwrites a newer change. A
//	    read that saw as in progress a transaction that changed the table
//	    and committed before the low watermark in the stream (Postgres
//	    makes a transaction visible after writing its commit record) is
//	    read again.
//	S3. A chunk during whose window the table's schema changed or the table
//	    was truncated is read again; its rows are never handed over.
//	S4. The progress of a table (the last key of its last chunk handed
//	    over) reaches the pipeline right after that chunk's rows, on the
//	    source's goroutine, so every checkpoint names exactly the chunks
//	    whose rows it commits; a restart resumes at the next chunk.
//	S5. Streaming never waits for a read: the source's goroutine only
//	    hands over rows already read.
//	S6. At most snapshot.parallelism chunks, over all tables, are read
//	    and not yet handed over and committed with their progress: a crash
//	    reads again at most snapshot.parallelism × snapshot.chunk_size
//	    rows. A table's chunks are read one after another in key order
//	    (the next starts after the last key of the one before, once the
//	    one before is read), so their windows do not overlap and they are
//	    handed over in key order. A table has at most two chunks read
//	    and not yet handed over (readAhead).
//	S7. After a chunk of a table is read again [S3], none of that table's
//	    chunks read after it is handed over: the reader starts again after
//	    the last chunk handed over, so a table's progress never skips a
//	    chunk.
//	S8. Chunks handed over share Kafka transactions: a chunk's slot [S6]
//	    is given back only once a checkpoint that covers its rows and its
//	    progress is committed, and the engine has the pipeline commit at
//	    the boundary of a hand-over as soon as the chunks handed over hold
//	    half the slots, or every slot is held (and no other chunk is read
//	    and awaiting its own hand-over, which will commit them together),
//	    or no other chunk is under way, so a reader never waits for a
//	    commit that nothing would bring about. A reader waits only for its
//	    chunks' hand-over, not their commit, before it reads ahead
//	    [S6 readAhead].
//	S9. A chunk's rows may be encoded by its reader (RowEncoding) as they
//	    are read, before its high watermark, so that the hand-over only
//	    frames and produces them; each row keeps the text of its key
//	    [S2], and a chunk with a row that cannot be encoded is read again
//	    unencoded and handed over through Change, which reports the
//	    value. An encoded chunk retains no row's values, so a source may
//	    pass them in reused buffers (TransientReader). A reader that
//	    starts on a table version also has the table's output (topic,
//	    schemas) made ready meanwhile (Preparer), so that the source's
//	    goroutine does not wait for those round trips at the hand-over.
//	S10. A table whose snapshot starts (nothing of it delivered yet) with
//	    more than parallelism × chunk_size rows estimated may be split into
//	    disjoint key ranges (Splitter), fixed then and recorded in the
//	    state with the first chunk handed over. Each range is read as a
//	    table is [S6, S7] and records its own last key [S4]; the table is
//	    done when every range is. Ranges are disjoint, so a key is in the
//	    window of one chunk at a time [S2]; a schema change or a truncate
//	    rejects the open chunks of every range of the table [S3]. Chunks
//	    of every range take the shared slots, so the bound on what a crash
//	    reads again [S6] holds.

// Source is what the engine needs of a database. capture/postgres and
// capture/mysql implement it; the engine knows nothing else of them.
type Source interface {
	capture.Marker
	// Describe returns the current version of a table, with its key
	// columns.
	Describe(ctx context.Context, id schema.TableID) (*schema.Table, error)
	// Estimate returns about how many rows a table has (0: unknown).
	Estimate(ctx context.Context, id schema.TableID) int64
	// Last returns the place of the last row of t in chunk order (its
	// key; a source documents its order for tables without a key), nil
	// when t is empty. A table's snapshot reads up to it: rows inserted
	// later beyond it come from the stream only.
	Last(ctx context.Context, t *schema.Table) ([]string, error)
	// ReadChunk reads, in one short statement [S1], up to limit rows of t
	// in chunk order after the place after names (nil: from the first)
	// and up to through (inclusive), and passes each row's values
	// (t.Columns order, the source's raw form) to row, which may retain
	// them. It returns the place of the last row read, nil when it read
	// none.
	ReadChunk(ctx context.Context, t *schema.Table, after, through []string, limit int, row func(vals []any) error) ([]string, error)
	// SourceInfo returns the source block of a row of t read at pos.
	SourceInfo(t *schema.Table, pos checkpoint.Position) capture.SourceInfo
}

// Splitter is what a Source may offer so that the key ranges of one big
// table are read in parallel [S10].
type Splitter interface {
	// Split returns up to n-1 keys of t (key texts, as Last returns
	// them), ascending and each before through, that cut the rows up to
	// through into n ranges of about as many rows each; estimate is
	// about how many rows t has. Fewer keys, or none, are no error.
	Split(ctx context.Context, t *schema.Table, through []string, n int, estimate int64) ([][]string, error)
}

// Downstream is what the engine hands events to: the pipeline.
type Downstream interface {
	capture.Handler
	// SetSnapshotState records the snapshots' progress for the next
	// checkpoints.
	SetSnapshotState(*checkpoint.SnapshotState)
	// Checkpoint commits everything handed on so far; call it only at a
	// transaction boundary (right after Commit). A nil error means all of
	// it is durable [S8].
	Checkpoint(ctx context.Context) error
	// Checkpoints counts the checkpoints committed so far, so that the
	// engine learns of one its Commit or Idle brought about [S8].
	Checkpoints() uint64
}

// EngineOptions configure an Engine.
type EngineOptions struct {
	ChunkSize        int // rows per chunk
	Parallelism      int // tables read at once
	ProgressInterval time.Duration
	Logger           *slog.Logger
	Progress         *Progress
	// Name is the instance's name, written into its watermarks and
	// matched against snapshot requests.
	Name string
	// Captured reports whether a table is captured (requests for others
	// are skipped); nil: every table is.
	Captured func(schema.TableID) bool
}

// TransientReader is what a Source may offer so that a chunk read by
// ReadChunkTransient costs no allocation per row [S9].
type TransientReader interface {
	// ReadChunkTransient is ReadChunk, but row must not retain the values
	// it is passed: the source reuses their memory for the next row.
	ReadChunkTransient(ctx context.Context, t *schema.Table, after, through []string, limit int, row func(vals []any) error) ([]string, error)
}

// RowEncoding is what a Downstream may offer so that readers encode their
// chunks' rows [S9]; the pipeline does.
type RowEncoding interface {
	// RowEncoder returns a function that appends the encoded key and then
	// the encoded row image of a row of table version t (raw values in
	// t.Columns order) to dst and returns where the key ends, for one
	// goroutine; nil when t's rows must be handed over through Change. An
	// error means the row cannot be encoded.
	RowEncoder(t *schema.Table) func(dst []byte, row []any) (out []byte, keyEnd int, err error)
	// EmitRead hands over a row read (c.Op OpRead, c.Table and c.Source
	// set) as Change would, with the key and row image a RowEncoder of
	// c.Table encoded.
	EmitRead(ctx context.Context, c *capture.Change, key, row []byte) error
}

// Preparer is what a Downstream may offer so that a table's output is
// made ready while its first chunk is read [S9]; the pipeline does.
type Preparer interface {
	// Prepare starts making the output of table version t ready (its
	// topic, its schemas) and returns at once. It reports nothing: the
	// hand-over waits for what is not ready yet and reports any error.
	Prepare(ctx context.Context, t *schema.Table)
}

// Engine takes table snapshots in chunks while the source streams. It is
// a capture.Handler that sits between the source and the pipeline: it
// passes every event on, notes the keys changed while a chunk's window is
// open, and hands a chunk's remaining rows over at its high watermark.
// Its Run reads the chunks. Handler methods run on the source's goroutine,
// Run's readers on their own.
type Engine struct {
	src  Source
	next Downstream
	o    EngineOptions
	log  *slog.Logger
	run  string // prefix of this engine's watermark ids

	// slots holds one token per chunk read and not yet handed over and
	// committed [S6]; a reader takes one before a chunk's low watermark
	// and gives it back once it has the chunk's result.
	slots chan struct{}

	mu       sync.Mutex
	inflight map[string]*chunk // by id, from before its low watermark until its high one is handled
	reading  int               // readers reading a range, between its start and its last chunk's result [S8]
	queue    []*part           // ranges no reader has taken yet
	wake     chan struct{}     // a table was queued
	seq      uint64

	// Owned by the source's goroutine (and by the caller before Run).
	jobs      []*job // unfinished, in the order of the state
	open      []*chunk
	handed    []*chunk // handed over, not yet committed: they hold their slots [S8]
	finished  []string // requests done, for the checkpoint
	versions  map[schema.TableID]*schema.Table
	lastPos   checkpoint.Position
	firstDone bool // the initial snapshot's first row was handed over
	// commits counts the transactions committed in the stream; txSeq
	// holds, for recent transactions that changed a table being
	// snapshotted, the count at which each committed [S2].
	commits  uint64
	txSeq    map[int64]uint64
	done     chan struct{}
	doneOnce sync.Once
	change   capture.Change
}

// job is one table's snapshot.
type job struct {
	ts checkpoint.TableSnapshot // source goroutine's (and the first range's reader's before its first chunk)
	id schema.TableID
	tp *TableProgress
}

// part is one key range of a table's snapshot, read by one reader at a
// time, chunk after chunk in key order [S6, S10]; a table not split is
// one part.
type part struct {
	job *job
	idx int // the range's index in the table's ranges (0 when not split)
	// start: the table's snapshot starts with this part, which takes the
	// table's bound (and may split it [S10]) before its first chunk.
	start bool
	// Reader's: where the next chunk starts, and the range's last key.
	after, through []string
	// bound is the table's last key when its snapshot started, split the
	// table's ranges as fixed at the split (nil when not split, or when
	// the state records them already); both reach the state with a chunk.
	bound []string
	split []checkpoint.KeyRange
	// epoch counts the reader's restarts after a chunk read again
	// (reader's, set on each chunk); rejected is the last epoch one of
	// whose chunks was rejected (source goroutine's) [S7].
	epoch    int
	rejected int
}

// chunk is one read between a low and a high watermark.
type chunk struct {
	id    string
	job   *job
	part  *part
	epoch int // part.epoch when the chunk was made [S7]
	table *schema.Table
	rows  [][]any
	enc   *encodedRows // the rows encoded by the reader instead [S9]
	last  []string
	final bool // the range's last chunk
	// bound and split are the part's, recorded in the state with the
	// chunk [S10]
	bound []string
	split []checkpoint.KeyRange
	read  bool // rows, last and final are set (under Engine.mu)
	slot  bool // the chunk holds a slot [S6] (not a dropped table's)
	// inProgress: the transactions the read saw in progress
	// (capture.ReadInfo; set with read)
	inProgress []int64
	// source goroutine; lSeq counts the transactions committed before
	// the low watermark's
	touched map[string]struct{}
	invalid bool
	lSeq    uint64
	result  chan bool // true: handed over; false: read it again
}

// NewEngine returns an engine resuming the snapshots in state (nil: none
// under way).
func NewEngine(src Source, next Downstream, o EngineOptions, state *checkpoint.SnapshotState) *Engine {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 10000
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 4
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	e := &Engine{src: src, next: next, o: o, log: o.Logger, run: o.Name + "/" + hex.EncodeToString(b[:]),
		inflight: map[string]*chunk{}, wake: make(chan struct{}, 1), versions: map[schema.TableID]*schema.Table{}, txSeq: map[int64]uint64{},
		slots: make(chan struct{}, o.Parallelism),
		done:  make(chan struct{})}
	if state != nil {
		e.finished = slices.Clone(state.Finished)
		for _, ts := range state.Tables {
			e.addJob(ts)
			// The initial snapshot's first row went out before the restart.
			e.firstDone = e.firstDone || ts.Initial && ts.LastKey != nil
		}
	}
	e.publishProgress()
	return e
}

func (e *Engine) addJob(ts checkpoint.TableSnapshot) {
	ts = ts.Clone()
	j := &job{ts: ts, id: schema.TableID{Namespace: ts.Namespace, Name: ts.Name},
		tp: &TableProgress{ID: schema.TableID{Namespace: ts.Namespace, Name: ts.Name}, Total: ts.Total}}
	j.tp.Done.Store(ts.Rows)
	e.jobs = append(e.jobs, j)
	var parts []*part
	switch {
	case len(ts.Ranges) > 0:
		// Resumed in the ranges the state records [S10].
		for i, r := range ts.Ranges {
			if r.Done {
				continue
			}
			after := r.LastKey
			if after == nil {
				after = r.After
			}
			parts = append(parts, &part{job: j, idx: i, after: after, through: r.Through, bound: ts.Through, rejected: -1})
		}
		if len(parts) == 0 {
			// Every range done but the table not: its end goes through
			// the stream as an empty last chunk.
			i := len(ts.Ranges) - 1
			parts = append(parts, &part{job: j, idx: i, after: ts.Ranges[i].Through, through: ts.Ranges[i].Through, bound: ts.Through, rejected: -1})
		}
	case ts.LastKey == nil:
		// Nothing delivered: the first reader takes the bound (unless
		// the state has it) and may split the table [S10].
		parts = []*part{{job: j, start: true, rejected: -1}}
	default:
		parts = []*part{{job: j, after: ts.LastKey, through: ts.Through, bound: ts.Through, rejected: -1}}
	}
	e.queueParts(parts...)
}

// queueParts queues ranges for the readers and wakes one.
func (e *Engine) queueParts(ps ...*part) {
	e.mu.Lock()
	e.queue = append(e.queue, ps...)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Add queues snapshots of tables (not already under way) and records them
// in the pipeline's state, so that a restart takes them too. bounds, when
// not nil, are the tables' last keys to read up to (a table missing from
// it is read up to its last key when its snapshot starts). Call it before
// Run or on the source's goroutine.
func (e *Engine) Add(ids []schema.TableID, bounds map[schema.TableID][]string, initial bool, request string) {
	added := 0
	for _, id := range ids {
		dup := false
		for _, j := range e.jobs {
			if j.id == id {
				dup = true
			}
		}
		if dup {
			continue
		}
		ts := checkpoint.TableSnapshot{Namespace: id.Namespace, Name: id.Name, Initial: initial, Request: request}
		if b, ok := bounds[id]; ok {
			ts.Through, ts.Bounded = b, true
		}
		e.addJob(ts)
		added++
	}
	if added == 0 && request != "" {
		// Every table's snapshot is under way already: it serves the
		// request.
		st := checkpoint.SnapshotState{Finished: e.finished}
		st.Finish(request)
		e.finished = st.Finished
	}
	if added > 0 || request != "" {
		e.publishProgress()
		e.next.SetSnapshotState(e.state())
	}
}

// Pending reports whether snapshots are under way.
func (e *Engine) Pending() bool { return len(e.jobs) > 0 }

// State returns the progress of the snapshots under way.
func (e *Engine) State() []checkpoint.TableSnapshot {
	if s := e.state(); s != nil {
		return s.Tables
	}
	return nil
}

// Done is closed when the last snapshot under way is done (never when
// none was: see Pending).
func (e *Engine) Done() <-chan struct{} { return e.done }

func (e *Engine) finish() {
	e.doneOnce.Do(func() {
		e.log.Info("snapshots done")
		close(e.done)
	})
}

// state returns a copy of the progress of the snapshots under way, nil
// when none is and no request finished.
func (e *Engine) state() *checkpoint.SnapshotState {
	if len(e.jobs) == 0 && len(e.finished) == 0 {
		return nil
	}
	s := &checkpoint.SnapshotState{Tables: make([]checkpoint.TableSnapshot, len(e.jobs)), Finished: slices.Clone(e.finished)}
	for i, j := range e.jobs {
		s.Tables[i] = j.ts.Clone()
	}
	return s
}

func (e *Engine) publishProgress() {
	tps := make([]*TableProgress, len(e.jobs))
	for i, j := range e.jobs {
		tps[i] = j.tp
	}
	e.o.Progress.set(tps)
}

// Run reads chunks until ctx ends or a read fails. It keeps waiting for
// tables queued by Add after the last snapshot is done.
func (e *Engine) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for range e.o.Parallelism {
		g.Go(func() error { return e.reader(ctx) })
	}
	g.Go(func() error {
		t := time.NewTicker(e.o.ProgressInterval)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if tps := e.o.Progress.Tables(); len(tps) > 0 {
					logProgress(e.log, e.o.Progress, start)
				}
			}
		}
	})
	return g.Wait()
}

// reader takes queued ranges one at a time and reads each to its end.
func (e *Engine) reader(ctx context.Context) error {
	for {
		e.mu.Lock()
		var p *part
		if len(e.queue) > 0 {
			p, e.queue = e.queue[0], e.queue[1:]
		}
		more := len(e.queue) > 0
		e.mu.Unlock()
		if p == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-e.wake:
				continue
			}
		}
		if more {
			// One wake-up per queueing: pass it on to the next reader.
			select {
			case e.wake <- struct{}{}:
			default:
			}
		}
		if err := e.readRange(ctx, p); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// readRange reads one range of a table (the whole table when it is not
// split) chunk after chunk, in key order, each read as soon as the one
// before is read and a slot is free [S6]; it takes the chunks' results in
// the same order, so that the range's progress only ever names a prefix
// of its rows [S4, S7].
func (e *Engine) readRange(ctx context.Context, p *part) error {
	e.mu.Lock()
	e.reading++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.reading--
		e.mu.Unlock()
	}()
	j := p.job
	t, err := e.src.Describe(ctx, j.id)
	if errors.Is(err, capture.ErrNoTable) {
		return e.dropTable(ctx, p)
	}
	if err != nil {
		return err
	}
	if p.start {
		// Nothing of the table is delivered, so its state is this
		// reader's until its first chunk is handed over.
		if j.ts.Total == 0 {
			// Set on the source's goroutine with the first chunk.
			j.tp.Total = e.src.Estimate(ctx, j.id)
		}
		p.bound = j.ts.Through
		if !j.ts.Bounded {
			// The bound is taken once and kept in the checkpoint, so that
			// a resumed snapshot ends where the first run would have.
			if p.bound, err = e.src.Last(ctx, t); err != nil {
				return err
			}
		}
		p.start, p.through = false, p.bound
		if err := e.split(ctx, p, t); err != nil {
			return err
		}
	}
	after := p.after
	j.tp.start()
	e.log.Info("snapshot of table started", "table", j.id.String(), "range", p.idx, "estimate", j.tp.Total,
		"resume_after", strings.Join(after, ","), "through", strings.Join(p.through, ","))
	var (
		pending []*chunk // read, oldest first, results not yet taken
		handed  = after  // the last key of the last chunk handed over
		readAll bool     // the range's final chunk is read
		// encode encodes rows of the table version encodeFor [S9].
		encode    func(dst []byte, row []any) ([]byte, int, error)
		encodeFor *schema.Table
	)
	// result takes the oldest pending chunk's result: handed over or to
	// be read again (the engine gives its slot back once that is
	// committed [S8]). A chunk read again [S3] discards the chunks read
	// after it (the engine rejects them [S7]) and the reader starts again
	// after the last one handed over, with the table described again.
	result := func() (done bool, err error) {
		c := pending[0]
		var ok bool
		select {
		case ok = <-c.result:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		pending = pending[1:]
		if ok {
			if c.last != nil {
				handed = c.last
			}
			return c.final, nil
		}
		for _, c := range pending {
			select {
			case <-c.result:
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		pending, readAll, after = nil, false, handed
		p.epoch++
		t, err = e.src.Describe(ctx, j.id)
		return false, err
	}
	for {
		if readAll || len(pending) >= readAhead || !e.takeSlot(ctx, len(pending) > 0) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			done, err := result()
			if errors.Is(err, capture.ErrNoTable) {
				return e.dropTable(ctx, p)
			}
			if err != nil {
				return err
			}
			if done {
				if p.split != nil || p.idx > 0 {
					e.log.Info("snapshot of key range done", "table", j.id.String(), "range", p.idx)
				}
				return nil
			}
			continue
		}
		c := e.newChunk(p, t)
		c.slot = true
		if err := e.src.Mark(ctx, c.id+"/l"); err != nil {
			e.drop(c)
			return err
		}
		var (
			rows [][]any
			enc  *encodedRows
			last []string
			n    int
		)
		if encodeFor != t {
			encode, encodeFor = e.rowEncoder(t), t
			if pr, ok := e.next.(Preparer); ok {
				pr.Prepare(ctx, t) // made while this chunk is read [S9]
			}
		}
		var ri capture.ReadInfo
		rctx := capture.WithReadInfo(ctx, &ri)
		if p.through != nil && encode != nil {
			enc, last, err = e.readEncoded(rctx, t, after, p.through, encode)
			if err != nil && !errors.Is(err, errNotEncoded) {
				e.drop(c)
				return err
			}
			if enc != nil {
				n = enc.len()
			}
		}
		if p.through != nil && enc == nil {
			// Unencoded: no encoder, or a value that cannot be encoded,
			// which the hand-over reports through Change [S9].
			last, err = e.src.ReadChunk(rctx, t, after, p.through, e.o.ChunkSize, func(vals []any) error {
				rows = append(rows, vals)
				return nil
			})
			if err != nil {
				e.drop(c)
				return err
			}
			n = len(rows)
		}
		final := n < e.o.ChunkSize || slices.Equal(last, p.through)
		e.mu.Lock()
		c.rows, c.enc, c.last, c.final, c.read, c.inProgress = rows, enc, last, final, true, ri.InProgress
		e.mu.Unlock()
		e.log.Debug("snapshot chunk read", "table", j.id.String(), "chunk", c.id, "range", p.idx, "after", strings.Join(after, ","), "rows", n)
		if err := e.src.Mark(ctx, c.id+"/h"); err != nil {
			e.drop(c)
			return err
		}
		pending = append(pending, c)
		readAll = final
		if last != nil {
			after = last
		}
	}
}

// split cuts a table whose snapshot starts with part p (up to p.through,
// its bound) into key ranges read in parallel when it is worth it: the
// source can, more than one reader may read, the table has a key and more
// than parallelism × chunk_size rows are estimated [S10]. p becomes the
// first range; the others are queued. A failed split reads the table as
// one range.
func (e *Engine) split(ctx context.Context, p *part, t *schema.Table) error {
	sp, ok := e.src.(Splitter)
	est := p.job.tp.Total
	if !ok || e.o.Parallelism < 2 || len(t.Key) == 0 || p.through == nil || est <= int64(e.o.Parallelism)*int64(e.o.ChunkSize) {
		return nil
	}
	n := int(min(int64(e.o.Parallelism), est/int64(e.o.ChunkSize)))
	keys, err := sp.Split(ctx, t, p.through, n, est)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.log.Warn("snapshot of table: cannot split it into key ranges; it is read as one", "table", p.job.id.String(), "error", err)
		return nil
	}
	if len(keys) == 0 {
		return nil
	}
	ranges := make([]checkpoint.KeyRange, 0, len(keys)+1)
	var after []string
	for _, k := range append(keys, p.through) {
		ranges = append(ranges, checkpoint.KeyRange{After: after, Through: k})
		after = k
	}
	p.split, p.through = ranges, ranges[0].Through
	others := make([]*part, 0, len(ranges)-1)
	for i, r := range ranges[1:] {
		others = append(others, &part{job: p.job, idx: i + 1, after: r.After, through: r.Through, bound: p.bound, split: ranges, rejected: -1})
	}
	e.log.Info("snapshot of table split into key ranges", "table", p.job.id.String(), "ranges", len(ranges), "estimate", est)
	e.queueParts(others...)
	return nil
}

// readAhead is how many chunks of one table may be read and not yet
// handed over: one read while the one before is handed over overlaps the
// two, and more would only hold more rows in memory. Chunks handed over
// and not yet committed are bounded by the slots alone [S6, S8].
const readAhead = 2

// takeSlot takes a slot for a chunk [S6]. When none is free and the
// reader has chunks of its own pending, it returns false at once: the
// reader then takes its oldest result (a hand-over with every slot held
// commits and frees them [S8]). Otherwise it waits for a slot; false then
// means ctx ended.
func (e *Engine) takeSlot(ctx context.Context, ownPending bool) bool {
	if ownPending {
		select {
		case e.slots <- struct{}{}:
			return true
		default:
			return false
		}
	}
	select {
	case e.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropTable ends the snapshot of a range of a table that no longer
// exists: an empty last chunk goes through the stream like any other, so
// the job leaves the state on the source's goroutine once every range has
// ended.
func (e *Engine) dropTable(ctx context.Context, p *part) error {
	e.log.Warn("table dropped during its snapshot; its snapshot ends", "table", p.job.id.String(), "range", p.idx)
	c := e.newChunk(p, nil)
	e.mu.Lock()
	c.final, c.read = true, true
	e.mu.Unlock()
	for _, kind := range []string{"/l", "/h"} {
		if err := e.src.Mark(ctx, c.id+kind); err != nil {
			e.drop(c)
			return err
		}
	}
	select {
	case <-c.result:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (e *Engine) newChunk(p *part, t *schema.Table) *chunk {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	c := &chunk{id: e.run + "/" + strconv.FormatUint(e.seq, 10), job: p.job, part: p, epoch: p.epoch, table: t,
		bound: p.bound, split: p.split, result: make(chan bool, 1)}
	e.inflight[c.id] = c
	return c
}

func (e *Engine) drop(c *chunk) {
	e.mu.Lock()
	delete(e.inflight, c.id)
	e.mu.Unlock()
}

// Change passes c on, first noting its key in every open window of its
// table [S2].
func (e *Engine) Change(ctx context.Context, c *capture.Change) error {
	if len(e.open) > 0 {
		e.touch(c)
	}
	if c.Source.TxID != 0 && len(e.jobs) > 0 && e.snapshotting(c.Table.ID) {
		e.noteTx(c.Source.TxID)
	}
	return e.next.Change(ctx, c)
}

func (e *Engine) snapshotting(id schema.TableID) bool {
	for _, j := range e.jobs {
		if j.id == id {
			return true
		}
	}
	return false
}

// noteTx notes that transaction xid, which changed a table being
// snapshotted, commits at the next boundary, so that a chunk whose read
// still saw it in progress although it committed before the chunk's low
// watermark is read again [S2].
func (e *Engine) noteTx(xid int64) {
	e.txSeq[xid] = e.commits + 1
	if len(e.txSeq) > 1<<16 {
		// A read's snapshot misses only transactions that committed
		// moments before its low watermark: keep the last 32,768.
		for x, seq := range e.txSeq {
			if seq+1<<15 < e.commits {
				delete(e.txSeq, x)
			}
		}
	}
}

// missedCommit reports whether c's read saw as in progress a transaction
// that changed its table and committed before its low watermark in the
// stream: Postgres writes a commit record before it makes the transaction
// visible, so such a read may hold rows older than changes already
// handed on [S2].
func (e *Engine) missedCommit(c *chunk) bool {
	for _, x := range c.inProgress {
		if seq, ok := e.txSeq[x]; ok && seq <= c.lSeq {
			return true
		}
	}
	return false
}

func (e *Engine) touch(c *capture.Change) {
	for _, w := range e.open {
		if w.job.id != c.Table.ID {
			continue
		}
		if c.Op != capture.OpTruncate && len(c.Table.Key) == 0 {
			continue // no key to tell a chunk's copy of the row by (docs/design.md)
		}
		if c.Op == capture.OpTruncate {
			w.invalid = true // [S3]
			continue
		}
		for _, img := range [][]any{c.Before, c.After} {
			if img != nil {
				w.touched[keyString(c.Table, img)] = struct{}{}
			}
		}
	}
}

// SchemaChange passes sc on and notes the table version; a chunk whose
// window is open on that table is read again [S3].
func (e *Engine) SchemaChange(ctx context.Context, sc *capture.SchemaChange) error {
	if sc.Table != nil {
		e.versions[sc.Table.ID] = sc.Table
		for _, w := range e.open {
			if w.job.id == sc.Table.ID {
				w.invalid = true
			}
		}
	}
	return e.next.SchemaChange(ctx, sc)
}

// Commit passes the boundary on, and commits the chunks handed over so
// far when the engine needs their slots [S8].
func (e *Engine) Commit(ctx context.Context, pos checkpoint.Position) error {
	e.lastPos = pos
	e.commits++
	return e.commit(ctx, pos)
}

// commit passes a transaction boundary on to the pipeline, which
// checkpoints there when its policy says so; when it did not and the
// chunks handed over must be committed now, it has it checkpoint [S8].
func (e *Engine) commit(ctx context.Context, pos checkpoint.Position) error {
	n := e.next.Checkpoints()
	if err := e.next.Commit(ctx, pos); err != nil {
		return err
	}
	if len(e.handed) > 0 && e.next.Checkpoints() == n && e.mustCommit() {
		if err := e.next.Checkpoint(ctx); err != nil {
			return err
		}
		e.committed()
		return nil
	}
	if e.next.Checkpoints() != n {
		e.committed()
	}
	return nil
}

// mustCommit reports whether the chunks handed over must be committed at
// this boundary: they hold half the slots, or every slot is held, so a
// reader may be waiting for one
// (unless another chunk is read already: its high watermark is on its
// way, and its hand-over commits them all at once), or no chunk is under
// way and no reader is reading a table, so no hand-over would come to
// commit them [S8]. (A reader between two chunks of a table makes the
// next one at once.)
func (e *Engine) mustCommit() bool {
	if len(e.jobs) == 0 {
		return true
	}
	held := 0
	for _, c := range e.handed {
		if c.slot {
			held++
		}
	}
	if 2*held >= cap(e.slots) {
		// Half the slots wait for this commit: it goes while the other
		// half are read, so that readers and commits overlap.
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.slots) == cap(e.slots) {
		// Each commit stops the stream for a produce round trip and an
		// EndTxn: with several readers every slot is held at almost
		// every hand-over, and committing at each would commit each
		// chunk alone.
		for _, c := range e.inflight {
			if c.read && c.slot {
				return false
			}
		}
		return true
	}
	return len(e.inflight) == 0 && e.reading == 0
}

// committed gives back the slots of the chunks handed over, which a
// checkpoint now covers [S6, S8].
func (e *Engine) committed() {
	if len(e.handed) == 0 {
		return
	}
	for _, c := range e.handed {
		if c.slot {
			<-e.slots
		}
	}
	e.handed = e.handed[:0]
	if len(e.jobs) == 0 {
		e.finish()
	}
}

// Idle passes the position on; a checkpoint it brings about covers the
// chunks handed over [S8].
func (e *Engine) Idle(ctx context.Context, pos checkpoint.Position) error {
	e.lastPos = pos
	n := e.next.Checkpoints()
	if err := e.next.Idle(ctx, pos); err != nil {
		return err
	}
	if e.next.Checkpoints() != n {
		e.committed()
	}
	return nil
}

// Watermark opens a chunk's window at its low watermark and hands the
// chunk over at its high one; marks this engine did not write are
// ignored.
func (e *Engine) Watermark(ctx context.Context, w *capture.Watermark) error {
	id, ok := strings.CutPrefix(w.ID, e.run+"/")
	if !ok {
		return nil
	}
	seq, kind, ok := strings.Cut(id, "/")
	if !ok {
		return nil
	}
	cid := e.run + "/" + seq
	e.mu.Lock()
	c := e.inflight[cid]
	e.mu.Unlock()
	if c == nil {
		return nil
	}
	switch kind {
	case "l":
		if c.touched == nil {
			c.touched = map[string]struct{}{}
			c.lSeq = e.commits
			e.open = append(e.open, c)
		}
		return nil
	case "h":
		return e.handOver(ctx, c, w.Position)
	}
	return nil
}

// handOver closes c's window and hands its rows over [S2, S4].
func (e *Engine) handOver(ctx context.Context, c *chunk, w checkpoint.Position) error {
	at := w
	e.mu.Lock()
	delete(e.inflight, c.id)
	read := c.read
	e.mu.Unlock()
	for i, w := range e.open {
		if w == c {
			e.open = append(e.open[:i], e.open[i+1:]...)
			break
		}
	}
	if read && !c.invalid && c.touched != nil && e.missedCommit(c) {
		e.log.Debug("snapshot chunk read again: its read missed a transaction committed before its low watermark", "chunk", c.id)
		c.invalid = true
	}
	if c.invalid || !read || c.touched == nil || c.epoch <= c.part.rejected {
		// Read again, and so every chunk of the range read after it [S7].
		// Nothing of it is handed over, so its slot is free at once.
		e.log.Debug("snapshot chunk not handed over; its range is read again after its last chunk handed over",
			"chunk", c.id, "range", c.part.idx)
		c.part.rejected = max(c.part.rejected, c.epoch)
		c.enc.release()
		c.enc = nil
		if c.slot {
			<-e.slots
		}
		c.result <- false
		return nil
	}
	if at.IsZero() {
		at = e.lastPos // inside a source transaction: the last boundary
	}
	j := c.job
	if v := e.versions[j.id]; c.table != nil && (v == nil || !v.Equal(c.table)) {
		// The rows are described by the version they were read with; the
		// history gets it before them.
		info := e.src.SourceInfo(c.table, at)
		if err := e.next.SchemaChange(ctx, &capture.SchemaChange{Table: c.table, Database: info.DB, Position: at,
			TsMs: time.Now().UnixMilli()}); err != nil {
			return err
		}
		e.versions[j.id] = c.table
	}
	// The rows whose key the stream changed in the window stay out [S2].
	total := len(c.rows)
	if c.enc != nil {
		total = c.enc.len()
	}
	var keep []int // indexes of the rows handed over; nil: all
	if len(c.touched) > 0 {
		keep = make([]int, 0, total)
		for i := range total {
			var changed bool
			if c.enc != nil {
				_, changed = c.touched[string(c.enc.keyText(i))]
			} else {
				_, changed = c.touched[keyString(c.table, c.rows[i])]
			}
			if !changed {
				keep = append(keep, i)
			}
		}
	}
	count := total
	if keep != nil {
		count = len(keep)
	}
	encoded, _ := e.next.(RowEncoding)
	if j.ts.Ranges == nil && c.split != nil {
		// The table's first chunk handed over: its ranges enter the
		// state [S10].
		j.ts.Ranges = checkpoint.TableSnapshot{Ranges: c.split}.Clone().Ranges
	}
	tableDone := c.final
	for i, r := range j.ts.Ranges {
		if i != c.part.idx && !r.Done {
			tableDone = false
		}
	}
	lastOfAll := tableDone && len(e.jobs) == 1
	now := time.Now().UnixMilli()
	info := e.src.SourceInfo(c.table, at)
	info.TsMs = now
	for i := range count {
		row := i
		if keep != nil {
			row = keep[i]
		}
		// Debezium's markers, in its order of precedence: the snapshot's
		// last row, its first, a table's last, a table's first.
		mark := "incremental"
		if j.ts.Initial {
			lastOfTable := tableDone && i == count-1
			switch {
			case lastOfAll && lastOfTable:
				mark = "last"
			case !e.firstDone:
				mark = "first"
			case lastOfTable:
				mark = "last_in_data_collection"
			case j.ts.Rows == 0 && i == 0:
				mark = "first_in_data_collection"
			default:
				mark = "true"
			}
			e.firstDone = true
		}
		info.Snapshot = mark
		var err error
		if c.enc != nil {
			e.change = capture.Change{Op: capture.OpRead, Table: c.table, Source: info}
			key, val := c.enc.row(row)
			err = encoded.EmitRead(ctx, &e.change, key, val)
		} else {
			e.change = capture.Change{Op: capture.OpRead, Table: c.table, After: c.rows[row], Source: info}
			err = e.next.Change(ctx, &e.change)
		}
		if err != nil {
			return err
		}
	}
	c.enc.release() // produced: the pipeline copied what it keeps
	c.enc, c.rows = nil, nil
	j.ts.Bounded = true
	j.ts.Through = c.bound
	j.ts.Rows += int64(count)
	j.ts.Total = j.tp.Total
	j.tp.Done.Add(int64(count))
	if j.ts.Ranges != nil {
		r := &j.ts.Ranges[c.part.idx]
		if c.last != nil {
			r.LastKey = c.last
		}
		r.Done = r.Done || c.final
	} else if c.last != nil {
		j.ts.LastKey = c.last
	}
	if tableDone {
		e.log.Info("snapshot of table done", "table", j.id.String(), "rows", j.ts.Rows)
		for i, x := range e.jobs {
			if x == j {
				e.jobs = append(e.jobs[:i], e.jobs[i+1:]...)
				break
			}
		}
		if r := j.ts.Request; r != "" && !slices.ContainsFunc(e.jobs, func(x *job) bool { return x.ts.Request == r }) {
			st := checkpoint.SnapshotState{Finished: e.finished}
			st.Finish(r)
			e.finished = st.Finished
			e.log.Info("snapshot request done", "request", r)
		}
	}
	e.next.SetSnapshotState(e.state()) // [S4]
	// The reader may read on; the slot is held until a checkpoint covers
	// the chunk [S8].
	e.handed = append(e.handed, c)
	c.result <- true
	if w.IsZero() {
		// Inside a source transaction: the rows and the progress can be
		// committed only at its end [I1].
		return nil
	}
	// The mark sits between transactions: a boundary, where the rows and
	// the progress can be committed [I1, S8].
	e.lastPos = w
	return e.commit(ctx, w)
}

// KeyText is the text by which the engine compares the key of a row
// (raw values in t.Columns order): a source must give the same key the
// same text in its chunks' rows and its stream's changes.
func KeyText(t *schema.Table, row []any) string { return keyString(t, row) }

// rawText is the text of a raw source value.
func rawText(v any) string {
	switch v := v.(type) {
	case nil:
		return "\x00null"
	case []byte:
		return string(v)
	case *[]byte:
		return string(*v)
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int:
		return strconv.Itoa(v)
	}
	return fmt.Sprint(v)
}
