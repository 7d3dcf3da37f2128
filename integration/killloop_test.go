package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
	for _, mode := range []struct {
		name string
		eos  bool
	}{{"exactly_once", true}, {"at_least_once", false}} {
		t.Run(mode.name, func(t *testing.T) { testKillLoop(t, mode.eos) })
	}
}

type killWindow struct{ from, to checkpoint.LSN }

func testKillLoop(t *testing.T, eos bool) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	tables := []string{"t1", "t2", "t3"}
	load := newPgLoad(t, db, tables, 150_000, 1000)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	env := []string{fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", eos), "SLUICE_LOG_LEVEL=info"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A test_decoding slot records each transaction's commit LSN, so
	// duplicates can be judged by commit order (a transaction in progress
	// when a checkpoint was taken commits after it, although its changes
	// have smaller LSNs).
	exec(t, db, `SELECT pg_create_logical_replication_slot('commits_`+name+`', 'test_decoding')`)
	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	loadErr := make(chan error, 1)
	go func() { loadErr <- load.run(ctx, dsn) }()
	rng := rand.New(rand.NewPCG(7, 11))
	const kills = 20
	var windows []killWindow
	for i := 0; i < kills; i++ {
		// Anywhere from start-up to well into streaming.
		time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
		p.Kill()
		var wal string
		if err := db.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&wal); err != nil {
			t.Fatal(err)
		}
		w, _ := checkpoint.ParseLSN(wal)
		var from checkpoint.LSN
		if cp := storedCheckpoint(t, k.Brokers(), name); cp != nil {
			from = cp.Position.LSN
		}
		windows = append(windows, killWindow{from: from, to: w})
		p = harness.Start(t, env, "run", "-c", cfg)
	}
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, db, k.Brokers(), name, 3*time.Minute)
	topics := make([]string, len(tables))
	for i, tb := range tables {
		topics[i] = name + ".public." + tb
	}
	rd := harness.NewReader(t, k.Brokers(), r.URL, topics...)
	evs := rd.Quiet(context.Background(), t, 3*time.Second)
	rep := harness.Check(evs, nil)
	bad := compareFinal(t, evs, name+".public.", finalState(t, db, tables))
	commits := map[int64]checkpoint.LSN{}
	rows, err := db.Query(ctx, `SELECT lsn::text, xid::text::bigint FROM pg_logical_slot_peek_changes('commits_`+name+`', NULL, NULL) WHERE data LIKE 'COMMIT%'`)
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
	outside := dupsOutsideWindows(t, evs, windows, commits)
	t.Logf("figures: mode_exactly_once=%v kills=%d txns=%d source_changes=%d %s final_state_mismatches=%d duplicates_before_checkpoint=%d",
		eos, kills, load.txns.Load(), load.changes.Load(), rep, bad, outside)
	if rep.OrderViolations != 0 || bad != 0 || rep.Events < int(load.changes.Load()) {
		t.Errorf("kill loop: %s, %d final-state mismatches", rep, bad)
	}
	if eos && rep.Duplicates != 0 {
		t.Errorf("exactly-once: %d duplicated events", rep.Duplicates)
	}
	if outside != 0 {
		t.Errorf("%d duplicated events were changes before the checkpoint stored at a kill", outside)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}

// dupsOutsideWindows counts repeated change events whose transaction did
// not commit after the checkpoint of some kill (and before that kill's WAL
// end): the only events at-least-once may deliver again.
func dupsOutsideWindows(t testing.TB, evs []harness.Event, windows []killWindow, commits map[int64]checkpoint.LSN) int {
	seen := map[string]bool{}
	outside := 0
	for i := range evs {
		e := &evs[i]
		if e.Value == nil {
			continue
		}
		lsnNum, _ := e.Source()["lsn"].(json.Number)
		lsn, _ := lsnNum.Int64()
		id := fmt.Sprintf("%s|%s|%s|%d", e.Topic, harness.KeyString(e.Key), e.Op(), lsn)
		if !seen[id] {
			seen[id] = true
			continue
		}
		txNum, _ := e.Source()["txId"].(json.Number)
		tx, _ := txNum.Int64()
		commit, known := commits[tx]
		if !known {
			commit = checkpoint.LSN(lsn)
		}
		ok := false
		for _, w := range windows {
			if commit >= w.from && commit <= w.to {
				ok = true
				break
			}
		}
		if !ok {
			outside++
			if outside <= 5 {
				t.Logf("duplicate outside every kill window: %s lsn %s (offset %d); windows %v", id, checkpoint.LSN(lsn), e.Offset, windows)
			}
		}
	}
	return outside
}
