package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

var testTable = &schema.Table{ID: schema.TableID{Namespace: "public", Name: "t"}, Key: []int{0},
	Columns: []schema.Column{{Name: "id", Type: "int8"}, {Name: "v", Type: "text", Nullable: true}}}

// fakeDB is a table in memory and a change stream: Mark appends a
// watermark to the stream, and a test appends changes to it.
type fakeDB struct {
	mu     sync.Mutex
	rows   map[int64]string
	stream chan any // *capture.Watermark or *capture.Change
	// beforeRead, when set, runs before a chunk is read (under no lock).
	beforeRead func(after []string)
	gone       bool // the table was dropped
	// stale, when set, is what the next read sees instead of rows (and
	// reports inProgress as in progress), once.
	stale      map[int64]string
	inProgress []int64
}

func newFakeDB(n int) *fakeDB {
	db := &fakeDB{rows: map[int64]string{}, stream: make(chan any, 1000)}
	for i := 1; i <= n; i++ {
		db.rows[int64(i)] = "v" + strconv.Itoa(i)
	}
	return db
}

func (db *fakeDB) Mark(_ context.Context, id string) error {
	db.stream <- &capture.Watermark{ID: id, Position: checkpoint.Position{LSN: 1}}
	return nil
}

func (db *fakeDB) Describe(context.Context, schema.TableID) (*schema.Table, error) {
	if db.gone {
		return nil, fmt.Errorf("describe: %w", capture.ErrNoTable)
	}
	return testTable, nil
}
func (db *fakeDB) Estimate(context.Context, schema.TableID) int64 { return int64(len(db.rows)) }
func (db *fakeDB) SourceInfo(*schema.Table, checkpoint.Position) capture.SourceInfo {
	return capture.SourceInfo{DB: "db"}
}

func (db *fakeDB) Last(context.Context, *schema.Table) ([]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	var m int64
	for k := range db.rows {
		m = max(m, k)
	}
	if m == 0 {
		return nil, nil
	}
	return []string{strconv.FormatInt(m, 10)}, nil
}

func (db *fakeDB) ReadChunk(ctx context.Context, _ *schema.Table, after, through []string, limit int, row func([]any) error) ([]string, error) {
	if db.beforeRead != nil {
		db.beforeRead(after)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	var from int64
	if after != nil {
		from, _ = strconv.ParseInt(after[0], 10, 64)
	}
	to, _ := strconv.ParseInt(through[0], 10, 64)
	var keys []int64
	for k := range db.rows {
		if k > from && k <= to {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	view := db.rows
	if db.stale != nil {
		view = map[int64]string{}
		for k, v := range db.rows {
			view[k] = v
		}
		for k, v := range db.stale {
			view[k] = v
		}
		if ri := capture.ReadInfoFrom(ctx); ri != nil {
			ri.InProgress = db.inProgress
		}
		db.stale = nil
	}
	for _, k := range keys {
		if err := row([]any{[]byte(strconv.FormatInt(k, 10)), []byte(view[k])}); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return []string{strconv.FormatInt(keys[len(keys)-1], 10)}, nil
}

// update changes a row and puts the change in the stream.
func (db *fakeDB) update(k int64, v string) {
	db.mu.Lock()
	db.rows[k] = v
	db.mu.Unlock()
	id := []byte(strconv.FormatInt(k, 10))
	db.stream <- &capture.Change{Op: capture.OpUpdate, Table: testTable, Before: []any{id, nil}, After: []any{id, []byte(v)}}
}

// sink records what the engine hands on.
type sink struct {
	events      []string
	state       *checkpoint.SnapshotState
	schema      int
	checkpoints uint64
	// committed lists, for each checkpoint, the events it covered so far.
	committed []int
}

func (s *sink) Change(_ context.Context, c *capture.Change) error {
	s.events = append(s.events, fmt.Sprintf("%s %s=%s %s", c.Op, rawText(c.After[0]), rawText(c.After[1]), c.Source.Snapshot))
	return nil
}
func (s *sink) SchemaChange(context.Context, *capture.SchemaChange) error { s.schema++; return nil }
func (s *sink) Commit(context.Context, checkpoint.Position) error         { return nil }
func (s *sink) Idle(context.Context, checkpoint.Position) error           { return nil }
func (s *sink) Watermark(context.Context, *capture.Watermark) error       { return nil }
func (s *sink) Signal(context.Context, *capture.Signal) error             { return nil }
func (s *sink) SetSnapshotState(st *checkpoint.SnapshotState)             { s.state = st }
func (s *sink) Checkpoints() uint64                                       { return s.checkpoints }
func (s *sink) Checkpoint(context.Context) error {
	s.checkpoints++
	s.committed = append(s.committed, len(s.events))
	return nil
}

// runEngine runs e against db's stream until the snapshot is done.
func runEngine(t *testing.T, e *Engine, db *fakeDB) { runEngineAfter(t, e, db, nil) }

// runEngineAfter is runEngine whose stream is held (Run reads meanwhile)
// until hold returns.
func runEngineAfter(t *testing.T, e *Engine, db *fakeDB, hold func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	if hold != nil {
		hold()
	}
	for {
		select {
		case ev := <-db.stream:
			var err error
			switch ev := ev.(type) {
			case *capture.Watermark:
				err = e.Watermark(ctx, ev)
			case *capture.Change:
				err = e.Change(ctx, ev)
			case *capture.SchemaChange:
				err = e.SchemaChange(ctx, ev)
			case checkpoint.Position:
				err = e.Commit(ctx, ev)
			}
			if err != nil {
				t.Fatal(err)
			}
		case <-e.Done():
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			return
		case <-ctx.Done():
			t.Fatal("snapshot did not finish")
		}
	}
}

func TestEngineReadsEveryRowInChunks(t *testing.T) {
	db := newFakeDB(5)
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 2, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db)
	want := []string{"r 1=v1 first", "r 2=v2 true", "r 3=v3 true", "r 4=v4 true", "r 5=v5 last"}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %q, want %q", out.events, want)
	}
	if out.state != nil {
		t.Errorf("state after the snapshot %+v, want none", out.state)
	}
	if out.schema != 1 {
		t.Errorf("%d schema changes, want 1", out.schema)
	}
}

// TestS2ChangeInWindowWins: a row changed in the stream between a chunk's
// watermarks is not handed over from the chunk; the change is.
func TestS2ChangeInWindowWins(t *testing.T) {
	db := newFakeDB(3)
	once := sync.Once{}
	db.beforeRead = func([]string) { once.Do(func() { db.update(2, "new") }) }
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 10, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db)
	want := []string{"u 2=new ", "r 1=v1 first", "r 3=v3 last"}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %q, want %q", out.events, want)
	}
}

// TestS3SchemaChangeInWindowRereads: a chunk during whose window the
// table's schema changed is read again, never handed over as read.
func TestS3SchemaChangeInWindowRereads(t *testing.T) {
	db := newFakeDB(2)
	reads := 0
	out := &sink{}
	var e *Engine
	db.beforeRead = func([]string) {
		reads++
		if reads == 1 {
			db.stream <- &capture.SchemaChange{Table: testTable}
		}
	}
	e = NewEngine(db, out, EngineOptions{ChunkSize: 10, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, false, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	for done := false; !done; {
		select {
		case ev := <-db.stream:
			switch ev := ev.(type) {
			case *capture.Watermark:
				_ = e.Watermark(ctx, ev)
			case *capture.SchemaChange:
				_ = e.SchemaChange(ctx, ev)
			}
		case <-e.Done():
			done = true
		case <-ctx.Done():
			t.Fatal("snapshot did not finish")
		}
	}
	want := []string{"r 1=v1 incremental", "r 2=v2 incremental"}
	if reads != 2 || !slices.Equal(out.events, want) {
		t.Fatalf("%d reads, events %q; want 2 reads and %q", reads, out.events, want)
	}
}

// TestS4ResumeAfterLastDeliveredChunk: the state handed to the pipeline
// after each chunk names its last key, and an engine started from it reads
// only the rows after it.
func TestS4ResumeAfterLastDeliveredChunk(t *testing.T) {
	db := newFakeDB(5)
	out := &sink{}
	var states []*checkpoint.SnapshotState
	rec := &stateRecorder{sink: out, states: &states}
	e := NewEngine(db, rec, EngineOptions{ChunkSize: 2, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db)
	// states: after Add (no key), after chunk 1 (key 2), chunk 2 (4), done (nil).
	if len(states) != 4 || states[1].Tables[0].LastKey[0] != "2" || states[1].Tables[0].Rows != 2 || states[3] != nil {
		t.Fatalf("states %+v", states)
	}
	out2 := &sink{}
	e2 := NewEngine(db, out2, EngineOptions{ChunkSize: 2, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, states[1])
	runEngine(t, e2, db)
	want := []string{"r 3=v3 true", "r 4=v4 true", "r 5=v5 last"}
	if !slices.Equal(out2.events, want) {
		t.Fatalf("resumed events %q, want %q", out2.events, want)
	}
}

type stateRecorder struct {
	*sink
	states *[]*checkpoint.SnapshotState
}

func (s *stateRecorder) SetSnapshotState(st *checkpoint.SnapshotState) {
	*s.states = append(*s.states, st.Clone())
}

// TestRequestFromTheStream: a snapshot request in the change stream for
// this instance snapshots its captured tables, records the request in the
// state until it is done, then lists it as finished; a request for
// another instance, or for a table this one does not capture, does
// nothing.
func TestRequestFromTheStream(t *testing.T) {
	db := newFakeDB(3)
	var states []*checkpoint.SnapshotState
	out := &sink{}
	rec := &stateRecorder{sink: out, states: &states}
	e := NewEngine(db, rec, EngineOptions{ChunkSize: 10, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "inv",
		Captured: func(id schema.TableID) bool { return id == testTable.ID }}, nil)
	ctx := context.Background()
	for _, payload := range []string{
		`{"name":"other","id":"x1","tables":["public.t"]}`,
		`{"name":"inv","id":"x2","tables":["public.nope"]}`,
		`not json`,
	} {
		if err := e.Signal(ctx, &capture.Signal{Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	if e.Pending() {
		t.Fatal("a request for another instance or an uncaptured table started a snapshot")
	}
	if err := e.Signal(ctx, &capture.Signal{Payload: []byte(`{"name":"inv","id":"r1","tables":["public.t"]}`)}); err != nil {
		t.Fatal(err)
	}
	if !e.Pending() || states[len(states)-1].Tables[0].Request != "r1" {
		t.Fatalf("request not recorded: %+v", states)
	}
	runEngine(t, e, db)
	last := states[len(states)-1]
	if len(last.Tables) != 0 || !slices.Equal(last.Finished, []string{"x2", "r1"}) {
		t.Fatalf("final state %+v, want no table and requests x2 (nothing to do) and r1 finished", last)
	}
	if len(out.events) != 3 || out.events[0] != "r 1=v1 incremental" {
		t.Fatalf("events %q", out.events)
	}
}

func TestTableProgressETA(t *testing.T) {
	tp := &TableProgress{Total: 1000}
	if _, ok := tp.ETA(); ok {
		t.Fatal("ETA known before the table started")
	}
	tp.Done.Store(100)
	tp.start()
	tp.started.Store(time.Now().Add(-10 * time.Second).UnixNano())
	tp.Done.Store(300) // 200 rows in 10s: 700 left take 35s
	eta, ok := tp.ETA()
	if !ok || eta < 34*time.Second || eta > 36*time.Second {
		t.Fatalf("ETA %s, %v; want about 35s", eta, ok)
	}
}

// TestDroppedTableEndsItsSnapshot: a table dropped before or during its
// snapshot ends it (and leaves the state) instead of stopping Sluice.
func TestDroppedTableEndsItsSnapshot(t *testing.T) {
	db := newFakeDB(3)
	db.gone = true
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 10, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db)
	if len(out.events) != 0 || out.state != nil || e.Pending() {
		t.Fatalf("events %q, state %+v after the table was dropped", out.events, out.state)
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestS6ReadAhead: a table's chunks are read ahead of their hand-over, up
// to readAhead chunks read and not handed over, and still handed over
// once each, in key order.
func TestS6ReadAhead(t *testing.T) {
	db := newFakeDB(10)
	var mu sync.Mutex
	reads := 0
	db.beforeRead = func([]string) { mu.Lock(); reads++; mu.Unlock() }
	count := func() int { mu.Lock(); defer mu.Unlock(); return reads }
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 2, Parallelism: 3, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngineAfter(t, e, db, func() {
		waitFor(t, "2 chunks read ahead", func() bool { return count() == readAhead })
		time.Sleep(50 * time.Millisecond)
		if n := count(); n != readAhead {
			t.Errorf("%d chunks of one table read before any was handed over, want %d", n, readAhead)
		}
	})
	var want []string
	for i := 1; i <= 10; i++ {
		mark := "true"
		switch i {
		case 1:
			mark = "first"
		case 10:
			mark = "last"
		}
		want = append(want, fmt.Sprintf("r %d=v%d %s", i, i, mark))
	}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %q, want %q", out.events, want)
	}
}

// TestSnapshotMarkersAsDebezium: an initial snapshot of two tables marks
// its rows as Debezium's does: the snapshot's first and last rows, each
// other table's first and last, true in between.
func TestSnapshotMarkersAsDebezium(t *testing.T) {
	db := newFakeDB(3)
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 2, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{{Namespace: "public", Name: "a"}, {Namespace: "public", Name: "b"}}, nil, true, "")
	runEngine(t, e, db)
	want := []string{
		"r 1=v1 first", "r 2=v2 true", "r 3=v3 last_in_data_collection",
		"r 1=v1 first_in_data_collection", "r 2=v2 true", "r 3=v3 last",
	}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %q, want %q", out.events, want)
	}
}

// TestS7RereadDiscardsLaterChunks: when a chunk must be read again [S3],
// the chunks of its table read after it are not handed over; the reader
// starts again after the last chunk handed over, so every row is handed
// over once, in key order.
func TestS7RereadDiscardsLaterChunks(t *testing.T) {
	db := newFakeDB(6)
	var mu sync.Mutex
	reads := 0
	db.beforeRead = func([]string) {
		mu.Lock()
		reads++
		first := reads == 1
		mu.Unlock()
		if first {
			db.stream <- &capture.SchemaChange{Table: testTable} // inside the first chunk's window
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return reads }
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 2, Parallelism: 3, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, false, "")
	runEngineAfter(t, e, db, func() {
		waitFor(t, "2 chunks read ahead", func() bool { return count() == 2 })
	})
	want := []string{"r 1=v1 incremental", "r 2=v2 incremental", "r 3=v3 incremental", "r 4=v4 incremental", "r 5=v5 incremental", "r 6=v6 incremental"}
	if n := count(); n != 5 || !slices.Equal(out.events, want) {
		t.Fatalf("%d reads, events %q; want 5 reads (2 discarded) and %q", n, out.events, want)
	}
}

// TestS8ChunksShareCommits: chunks handed over at transaction boundaries
// are committed together while slots are free, and every chunk is
// committed by the end; with one slot, each chunk is committed at its
// hand-over.
func TestS8ChunksShareCommits(t *testing.T) {
	db := newFakeDB(10)
	var mu sync.Mutex
	reads := 0
	db.beforeRead = func([]string) { mu.Lock(); reads++; mu.Unlock() }
	count := func() int { mu.Lock(); defer mu.Unlock(); return reads }
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 2, Parallelism: 3, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	// Two chunks are read before the stream reaches the first high
	// watermark: at its hand-over a slot is free and the second chunk is
	// under way, so nothing is committed until a later hand-over, when
	// every slot is held (the first's, if the reader takes the third slot
	// between the first's hand-over and its commit). The five chunks
	// share commits.
	runEngineAfter(t, e, db, func() { waitFor(t, "2 chunks read", func() bool { return count() == 2 }) })
	if len(out.committed) == 0 || len(out.committed) >= 5 || out.committed[0] > 6 {
		t.Errorf("checkpoints covered %v events, want fewer than 5 checkpoints, the first covering at most 3 chunks (6 rows)", out.committed)
	}
	if n := len(out.committed); n == 0 || out.committed[n-1] != 10 {
		t.Errorf("checkpoints covered %v events, want the last to cover all 10", out.committed)
	}

	one, db1 := &sink{}, newFakeDB(10)
	e = NewEngine(db1, one, EngineOptions{ChunkSize: 2, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db1)
	if !slices.Equal(one.committed, []int{2, 4, 6, 8, 10}) {
		t.Errorf("with one slot, checkpoints covered %v events, want one per chunk", one.committed)
	}
}

// encSink is a sink that encodes rows on the readers [S9]: the key as
// "k<id>", the row image as "<v>"; a row whose value is "bad" cannot be
// encoded.
type encSink struct {
	*sink
	encoded int // rows handed over encoded
	// prepared: the tables Prepare was called for [S9], from the readers
	// (under mu); unprepared: rows handed over before their table's.
	mu         sync.Mutex
	prepared   []schema.TableID
	unprepared int
}

func (s *encSink) Prepare(_ context.Context, t *schema.Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prepared = append(s.prepared, t.ID)
}

func (s *encSink) RowEncoder(*schema.Table) func([]byte, []any) ([]byte, int, error) {
	return func(dst []byte, row []any) ([]byte, int, error) {
		if rawText(row[1]) == "bad" {
			return dst, 0, fmt.Errorf("cannot encode")
		}
		dst = append(append(dst, 'k'), rawText(row[0])...)
		end := len(dst)
		return append(dst, rawText(row[1])...), end, nil
	}
}

func (s *encSink) EmitRead(_ context.Context, c *capture.Change, key, row []byte) error {
	s.mu.Lock()
	if !slices.Contains(s.prepared, c.Table.ID) {
		s.unprepared++
	}
	s.mu.Unlock()
	s.encoded++
	s.events = append(s.events, fmt.Sprintf("%s %s=%s %s", c.Op, key[1:], row, c.Source.Snapshot))
	return nil
}

// TestS9RowsEncodedByReaders: rows encoded by the readers are handed over
// as the unencoded ones would be, without the keys the stream changed in
// the window [S2]; a chunk with a row that cannot be encoded is handed
// over unencoded. The table's output is prepared once, by its reader,
// before its first row is handed over.
func TestS9RowsEncodedByReaders(t *testing.T) {
	db := newFakeDB(5)
	db.rows[5] = "bad"
	once := sync.Once{}
	db.beforeRead = func([]string) { once.Do(func() { db.update(2, "new") }) }
	out := &encSink{sink: &sink{}}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 3, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db)
	want := []string{"u 2=new ", "r 1=v1 first", "r 3=v3 true", "r 4=v4 true", "r 5=bad last"}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %q, want %q", out.events, want)
	}
	if out.encoded != 2 {
		t.Errorf("%d rows handed over encoded, want the first chunk's 2", out.encoded)
	}
	if !slices.Equal(out.prepared, []schema.TableID{testTable.ID}) || out.unprepared != 0 {
		t.Errorf("prepared %v, %d rows handed over before; want the table once, before its rows", out.prepared, out.unprepared)
	}
}

func TestKeyTextAsKeyString(t *testing.T) {
	b := []byte("7")
	for _, v := range []any{&b, []byte("x"), "s", int64(-3), nil, uint64(9), int32(4)} {
		row := []any{v, nil}
		if got, want := string(appendKeyText(nil, testTable, row)), rawText(v); got != strconv.Itoa(len(want))+":"+want {
			t.Errorf("key text of %#v: %q, want the length-prefixed %q", v, got, want)
		}
	}
}

// splitDB is a fakeDB that can split its table into key ranges [S10].
type splitDB struct {
	*fakeDB
	splits int
}

func (db *splitDB) Split(_ context.Context, _ *schema.Table, through []string, n int, _ int64) ([][]string, error) {
	db.splits++
	to, _ := strconv.ParseInt(through[0], 10, 64)
	var out [][]string
	for i := 1; i < n; i++ {
		out = append(out, []string{strconv.FormatInt(to*int64(i)/int64(n), 10)})
	}
	return out, nil
}

// TestS10KeyRangesInParallel: a table estimated at more than parallelism
// × chunk_size rows is read in key ranges; every row is handed over once,
// the ranges enter the state with the first chunk, each with its own
// progress, and the snapshot's first and last markers appear once each.
func TestS10KeyRangesInParallel(t *testing.T) {
	db := &splitDB{fakeDB: newFakeDB(95)}
	var states []*checkpoint.SnapshotState
	out := &sink{}
	rec := &stateRecorder{sink: out, states: &states}
	e := NewEngine(db, rec, EngineOptions{ChunkSize: 10, Parallelism: 3, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	runEngine(t, e, db.fakeDB)
	if db.splits != 1 {
		t.Fatalf("%d splits, want 1", db.splits)
	}
	seen := map[string]int{}
	marks := map[string]int{}
	for _, ev := range out.events {
		var k, v, m string
		fmt.Sscanf(ev, "r %s %s", &k, &m)
		k, v, _ = strings.Cut(k, "=")
		if v != "v"+k {
			t.Errorf("event %q: wrong value", ev)
		}
		seen[k]++
		marks[m]++
	}
	for i := 1; i <= 95; i++ {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("row %d handed over %d times", i, n)
		}
	}
	if marks["first"] != 1 || marks["last"] != 1 || marks["last_in_data_collection"] != 0 {
		t.Errorf("markers %v: want one first and one last", marks)
	}
	if len(out.events) == 0 || !strings.HasSuffix(out.events[len(out.events)-1], " last") {
		t.Errorf("the last event %q does not carry the last marker", out.events[len(out.events)-1])
	}
	// The second state (after the first chunk) has the three ranges.
	rs := states[1].Tables[0].Ranges
	if len(rs) != 3 || rs[0].After != nil || rs[0].Through[0] != "31" || rs[1].After[0] != "31" || rs[2].Through[0] != "95" {
		t.Fatalf("ranges %+v, want (,31] (31,63] (63,95]", rs)
	}
	var done int
	for _, r := range rs {
		if r.LastKey != nil {
			done++
		}
	}
	if done != 1 || states[1].Tables[0].LastKey != nil || states[1].Tables[0].Rows != 10 {
		t.Errorf("state after the first chunk %+v: want one range with a last key, 10 rows", states[1].Tables[0])
	}
	if states[len(states)-1] != nil {
		t.Errorf("state after the snapshot %+v, want none", states[len(states)-1])
	}
}

// TestS10ResumeEachRange: an engine started from a state with key ranges
// reads each unfinished range after its own last key, and no finished
// range, without splitting again.
func TestS10ResumeEachRange(t *testing.T) {
	db := &splitDB{fakeDB: newFakeDB(95)}
	state := &checkpoint.SnapshotState{Tables: []checkpoint.TableSnapshot{{
		Namespace: "public", Name: "t", Initial: true, Bounded: true, Through: []string{"95"}, Rows: 40, Total: 95,
		Ranges: []checkpoint.KeyRange{
			{Through: []string{"31"}, LastKey: []string{"31"}, Done: true},
			{After: []string{"31"}, Through: []string{"63"}, LastKey: []string{"50"}},
			{After: []string{"63"}, Through: []string{"95"}},
		}}}}
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 10, Parallelism: 3, Logger: slog.New(slog.DiscardHandler), Name: "test"}, state)
	runEngine(t, e, db.fakeDB)
	if db.splits != 0 {
		t.Errorf("%d splits of a resumed table, want 0", db.splits)
	}
	got := map[int]bool{}
	for _, ev := range out.events {
		var k int
		fmt.Sscanf(ev, "r %d=", &k)
		if got[k] {
			t.Errorf("row %d handed over twice", k)
		}
		got[k] = true
	}
	for k := 1; k <= 95; k++ {
		if want := k > 50 && k <= 63 || k > 63; got[k] != want {
			t.Errorf("row %d handed over: %v, want %v", k, got[k], want)
		}
	}
	if !strings.HasSuffix(out.events[len(out.events)-1], " last") {
		t.Errorf("the last event %q does not carry the last marker", out.events[len(out.events)-1])
	}
}

// TestS2ReadMissingACommittedTransaction: a read whose snapshot still saw
// as in progress a transaction that changed the table and committed
// before the chunk's low watermark in the stream (Postgres makes a
// transaction visible after writing its commit record) is not handed
// over: the chunk is read again, and no row older than the change
// follows it.
func TestS2ReadMissingACommittedTransaction(t *testing.T) {
	db := newFakeDB(3)
	out := &sink{}
	e := NewEngine(db, out, EngineOptions{ChunkSize: 10, Parallelism: 1, Logger: slog.New(slog.DiscardHandler), Name: "test"}, nil)
	e.Add([]schema.TableID{testTable.ID}, nil, true, "")
	// Transaction 77 sets row 2 and commits before the low watermark;
	// the first read still sees the old row and 77 in progress.
	db.mu.Lock()
	db.rows[2] = "new"
	db.stale = map[int64]string{2: "v2"}
	db.inProgress = []int64{76, 77}
	db.mu.Unlock()
	id := []byte("2")
	db.stream <- &capture.Change{Op: capture.OpUpdate, Table: testTable, After: []any{id, []byte("new")}, Source: capture.SourceInfo{TxID: 77}}
	db.stream <- checkpoint.Position{LSN: 1}
	runEngine(t, e, db)
	want := []string{"u 2=new ", "r 1=v1 first", "r 2=new true", "r 3=v3 last"}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %q, want %q", out.events, want)
	}
}
