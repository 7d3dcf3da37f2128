package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// TestKillLoop kills sluice with SIGKILL at random moments, at least 20
// times, during a mixed multi-table insert/update/delete load with
// transactions of 1 to 1000 rows, restarting it each time. Exactly-once:
// lost 0, duplicated 0, per-key order violations 0, final state equal.
// At-least-once: the same, except duplicates, each of which must be a
// change after the checkpoint stored when the process was killed.
func TestKillLoop(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	for _, mode := range []struct {
		name string
		eos  bool
	}{{"exactly_once", true}, {"at_least_once", false}} {
		t.Run(mode.name, func(t *testing.T) { testKillLoop(t, mode.eos) })
	}
}

func testKillLoop(t *testing.T, eos bool) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	tables := []string{"t1", "t2", "t3"}
	load := newPgLoad(t, db, tables, 150_000, 1000)
	// About 300 transactions over about 20s, the time the kills take.
	load.pause = 60 * time.Millisecond

	// A test_decoding slot records each transaction's commit LSN, so
	// duplicates can be judged by commit order (a transaction in progress
	// when a checkpoint was taken commits after it, although its changes
	// have smaller LSNs).
	exec(t, db, `SELECT pg_create_logical_replication_slot('commits_`+name+`', 'test_decoding')`)
	commitPos := func(t testing.TB) func(e *harness.Event) harness.Pos {
		commits := map[int64]checkpoint.LSN{}
		rows, err := db.Query(context.Background(), `SELECT lsn::text, xid::text::bigint FROM pg_logical_slot_peek_changes('commits_`+name+`', NULL, NULL) WHERE data LIKE 'COMMIT%'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var l string
			var xid int64
			if err := rows.Scan(&l, &xid); err != nil {
				t.Fatal(err)
			}
			commits[xid], _ = checkpoint.ParseLSN(l)
		}
		rows.Close()
		exec(t, db, `SELECT pg_drop_replication_slot('commits_`+name+`')`)
		return func(e *harness.Event) harness.Pos {
			txNum, _ := e.Source()["txId"].(json.Number)
			tx, _ := txNum.Int64()
			if commit, ok := commits[tx]; ok {
				return harness.Pos{A: int64(commit)}
			}
			return harness.Position(e.Source())
		}
	}
	(&killLoop{
		src: &pgSource{db: db}, name: name, tables: tables, stats: &load.loadStats,
		runLoad: func(ctx context.Context) error { return load.run(ctx, dsn) },
		brokers: k.Brokers(), reg: r.URL,
		config:    pgConfig(name, dsn, k, r, ""),
		eos:       eos,
		commitPos: commitPos,
	}).run(t)
}

// killLoop is the kill loop of one source: start sluice, start the load,
// kill -9 and restart sluice kills times at random moments, wait for the
// load to end and be checkpointed, then compare Kafka with the source.
type killLoop struct {
	src     sourceDB
	name    string // connector name
	tables  []string
	stats   *loadStats
	runLoad func(ctx context.Context) error
	brokers []string
	reg     string
	config  string // YAML
	eos     bool
	// kills is how many times the process is killed (default 20).
	kills int
	// onKill, when set, is given the checkpoint stored at each kill: the
	// one the next start resumes from.
	onKill func(cp *checkpoint.Checkpoint)
	// commitPos, when set, is called once the load is checkpointed and
	// returns the position a repeated event is judged by: that of its
	// transaction's commit. Default: the event's own position (right for a
	// source whose log holds a transaction's changes together at its
	// commit, as the binlog does).
	commitPos func(t testing.TB) func(e *harness.Event) harness.Pos
}

// In exactly-once mode the kill loops also run with transaction metadata
// on, and check it (checkTxnMetadata).

// killWindow is what at-least-once may deliver again after one kill: the
// changes committed after the checkpoint stored at the kill, up to the
// end of the source's log at that moment.
type killWindow struct{ from, to harness.Pos }

func (l *killLoop) run(t *testing.T) {
	cfg := harness.WriteConfig(t, l.config)
	env := []string{fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", l.eos), "SLUICE_LOG_LEVEL=info",
		fmt.Sprintf("SLUICE_KAFKA_TRANSACTION_METADATA=%v", l.eos)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	loadErr := make(chan error, 1)
	var loading atomic.Bool
	loading.Store(true)
	go func() {
		err := l.runLoad(ctx)
		loading.Store(false)
		loadErr <- err
	}()
	rng := rand.New(rand.NewPCG(7, 11))
	kills := l.kills
	if kills == 0 {
		kills = matrixKills(t, 20)
	}
	underLoad := 0
	var windows []killWindow
	for i := 0; i < kills; i++ {
		// Anywhere from start-up to well into streaming.
		time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
		if loading.Load() {
			underLoad++
		}
		p.Kill()
		to := l.src.head(t)
		cp := storedCheckpoint(t, l.brokers, l.name)
		if l.onKill != nil {
			l.onKill(cp)
		}
		from := l.src.checkpointPos(cp)
		windows = append(windows, killWindow{from: from, to: to})
		p = harness.Start(t, env, "run", "-c", cfg)
	}
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	l.src.waitCaughtUp(t, l.brokers, l.name, 3*time.Minute)
	topics := make([]string, len(l.tables))
	for i, tb := range l.tables {
		topics[i] = l.src.prefix(l.name) + tb
	}
	rd := harness.NewReader(t, l.brokers, l.reg, topics...)
	evs := rd.Quiet(context.Background(), t, 3*time.Second)
	rep := harness.Check(evs, nil)
	bad := compareFinal(t, evs, l.src.prefix(l.name), l.src.finalState(t, l.tables))
	commitPos := func(e *harness.Event) harness.Pos { return harness.Position(e.Source()) }
	if l.commitPos != nil {
		commitPos = l.commitPos(t)
	}
	outside := dupsOutsideWindows(t, evs, windows, commitPos)
	lost := lostEvents(rep, l.stats.changes.Load())
	t.Logf("figures: mode_exactly_once=%v kills=%d kills_under_load=%d txns=%d source_changes=%d lost=%d %s final_state_mismatches=%d duplicates_before_checkpoint=%d",
		l.eos, kills, underLoad, l.stats.txns.Load(), l.stats.changes.Load(), lost, rep, bad, outside)
	if lost != 0 || rep.OrderViolations != 0 || bad != 0 {
		t.Errorf("kill loop: %s, %d final-state mismatches", rep, bad)
	}
	if l.eos && rep.Duplicates != 0 {
		t.Errorf("exactly-once: %d duplicated events", rep.Duplicates)
	}
	if outside != 0 {
		t.Errorf("%d duplicated events were changes before the checkpoint stored at a kill", outside)
	}
	if l.eos {
		checkTxnMetadata(t, l.brokers, l.reg, l.name, evs)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}

// lostEvents is how many of the source's changes have no event in Kafka
// (events counted once however often they were delivered). Snapshot reads
// are not changes: a row changed while its chunk is read has its change
// and no read (the rows themselves are checked by compareFinal).
func lostEvents(rep harness.Report, changes int64) int {
	return max(0, int(changes)-(rep.Events-rep.Duplicates-rep.Reads))
}

// dupsOutsideWindows counts repeated change events whose transaction did
// not commit after the checkpoint of some kill (and before that kill's end
// of log): the only events at-least-once may deliver again. commitPos
// gives the commit position of an event's transaction.
func dupsOutsideWindows(t testing.TB, evs []harness.Event, windows []killWindow, commitPos func(*harness.Event) harness.Pos) int {
	seen := map[string]bool{}
	outside := 0
	for i := range evs {
		e := &evs[i]
		if e.Value == nil {
			continue
		}
		id := fmt.Sprintf("%s|%s|%s|%s", e.Topic, harness.KeyString(e.Key), e.Op(), harness.Position(e.Source()))
		if !seen[id] {
			seen[id] = true
			continue
		}
		commit := commitPos(e)
		ok := false
		for _, w := range windows {
			if !commit.Before(w.from) && !w.to.Before(commit) {
				ok = true
				break
			}
		}
		if !ok {
			outside++
			if outside <= 5 {
				t.Logf("duplicate outside every kill window: %s committed at %s (offset %d); windows %v", id, commit, e.Offset, windows)
			}
		}
	}
	return outside
}
