package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresSnapshotOnDemand: `sluice snapshot --wait` makes a running
// instance snapshot a table while it streams, under concurrent updates and
// deletes: the final state per key equals the table and no snapshot row
// comes after a newer change. A request made while the instance is
// stopped is carried out after it starts. A table the instance does not
// capture is refused.
func TestPostgresSnapshotOnDemand(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	const rows = 20_000
	exec(t, db, `CREATE TABLE t (id bigint PRIMARY KEY, v bigint NOT NULL, pad text)`)
	exec(t, db, fmt.Sprintf(`INSERT INTO t SELECT g, 0, md5(g::text) FROM generate_series(1, %d) g`, rows))
	exec(t, db, `CREATE TABLE other (id int PRIMARY KEY)`)
	cfg := harness.WriteConfig(t, strings.Replace(pgConfig(name, dsn, k, r, "snapshot: {chunk_size: 500}\n"),
		"  type: postgres\n", "  type: postgres\n  tables: [public.t]\n", 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, 90*time.Second)

	// Updates (v+1) and deletes while the requested snapshot runs.
	// The load stops between transactions: a statement cancelled in
	// flight may still commit after the final state is read.
	var stopLoad atomic.Bool
	loadDone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			loadDone <- err
			return
		}
		defer conn.Close(context.Background())
		rng := rand.New(rand.NewPCG(7, 8))
		for !stopLoad.Load() {
			lo := 1 + rng.Int64N(rows)
			if _, err := conn.Exec(context.Background(), fmt.Sprintf(`UPDATE t SET v = v + 1 WHERE id BETWEEN %d AND %d; DELETE FROM t WHERE id = %d`,
				lo, lo+10, 1+rng.Int64N(rows))); err != nil {
				loadDone <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		loadDone <- nil
	}()
	code, out := harness.Run(t, 2*time.Minute, nil, "snapshot", "-c", cfg, "--wait", "public.t")
	t.Logf("sluice snapshot --wait: exit %d:\n%s", code, out)
	if code != 0 || !strings.Contains(out, "done") {
		t.Fatalf("sluice snapshot --wait: exit %d, want 0 and done", code)
	}
	stopLoad.Store(true)
	cancel()
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, db, k.Brokers(), name, time.Minute)
	topic := name + ".public.t"
	checkRequested(t, k.Brokers(), r.URL, topic, name+".public.", finalState(t, db, []string{"t"}), cfg, p, "public.other", "public.t", rows)
}

// checkRequested checks the events of topic after a `sluice snapshot` of
// table: reads marked incremental, no stale snapshot row, the final state
// equal to want. Then it checks that a request for other (not captured)
// is refused, stops p, makes a request for table while stopped, and
// checks that a new run carries it out.
func checkRequested(t *testing.T, brokers []string, registry, topic, prefix string, want map[string]map[int64]int64,
	cfg string, p *harness.Process, other, table string, rows int) {
	t.Helper()
	reads := func() []harness.Event {
		return harness.NewReader(t, brokers, registry, topic).Quiet(context.Background(), t, 3*time.Second)
	}
	incremental := func(evs []harness.Event) int {
		n := 0
		for _, e := range evs {
			if e.Op() == "r" && e.Source()["snapshot"] == "incremental" {
				n++
			}
		}
		return n
	}
	evs := reads()
	requested := incremental(evs)
	stale := snapshotOrderViolations(t, evs)
	mismatches := compareFinal(t, evs, prefix, want)
	t.Logf("figures: rows=%d requested_snapshot_reads=%d stale_snapshot_rows=%d final_state_mismatches=%d", rows, requested, stale, mismatches)
	if requested == 0 || stale != 0 || mismatches != 0 {
		t.Errorf("requested snapshot: %d reads, %d stale rows, %d final-state mismatches", requested, stale, mismatches)
	}

	// A table the instance does not capture is refused, and nothing is
	// recorded.
	code, out := harness.Run(t, time.Minute, nil, "snapshot", "-c", cfg, other)
	if code != 1 || !strings.Contains(out, "does not capture") || !strings.Contains(out, "source.tables") {
		t.Errorf("snapshot of an uncaptured table: exit %d, output:\n%s", code, out)
	}

	// A request made while the instance is stopped is carried out once it
	// runs again.
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	if code, out := harness.Run(t, time.Minute, nil, "snapshot", "-c", cfg, table); code != 0 {
		t.Fatalf("sluice snapshot while stopped: exit %d:\n%s", code, out)
	}
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(context.Background(), `msg="snapshot request done"`, 90*time.Second)
	after := incremental(reads())
	t.Logf("figures: requested while stopped: %d more snapshot reads", after-requested)
	if after <= requested {
		t.Errorf("the request made while stopped was not carried out (%d reads before, %d after)", requested, after)
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
