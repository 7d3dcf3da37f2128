package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresSnapshotTextKeyRanges snapshots, under concurrent updates,
// a table whose primary key is (text, bigint), large enough to be split
// into key ranges at the quantiles of a TABLESAMPLE of its keys [S10]:
// every key arrives, no snapshot row follows a newer change, and the
// final state equals the table.
func TestPostgresSnapshotTextKeyRanges(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	const rows = 20_000
	exec(t, db, `CREATE TABLE tk (region text NOT NULL, id bigint NOT NULL, v bigint NOT NULL, PRIMARY KEY (region, id))`)
	// Regions in an order unlike their insertion, so that the sample's
	// pages hold keys from all over the key order.
	exec(t, db, fmt.Sprintf(`INSERT INTO tk SELECT 'r-' || md5((g %% 97)::text), g, 0 FROM generate_series(1, %d) g`, rows))
	exec(t, db, "ANALYZE tk")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var updates int
	loadDone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			loadDone <- err
			return
		}
		defer conn.Close(context.Background())
		rng := rand.New(rand.NewPCG(11, 12))
		for ctx.Err() == nil {
			lo := 1 + rng.Int64N(rows)
			if _, err := conn.Exec(context.Background(), `UPDATE tk SET v = v + 1 WHERE id BETWEEN $1 AND $1 + 30`, lo); err != nil {
				loadDone <- err
				return
			}
			updates++
			time.Sleep(2 * time.Millisecond)
		}
		loadDone <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, "snapshot: {chunk_size: 500, parallelism: 4}\n"))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, 2*time.Minute)
	cancel()
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, db, k.Brokers(), name, time.Minute)

	var wantSum int64
	if err := db.QueryRow(context.Background(), "SELECT SUM(v) FROM tk").Scan(&wantSum); err != nil {
		t.Fatal(err)
	}
	evs := harness.NewReader(t, k.Brokers(), r.URL, name+".public.tk").Quiet(context.Background(), t, 3*time.Second)
	checkSplitSnapshot(t, evs, p, "public.tk", rows, updates, wantSum)
}

// checkSplitSnapshot checks the events of a table snapshotted in key
// ranges [S10] under concurrent updates that add to v: the table was
// split, every one of its rows keys arrived, no snapshot row came after a
// newer change of its key, and the sum of each key's last v equals the
// table's (wantSum). It prints the figures and stops p gracefully.
func checkSplitSnapshot(t *testing.T, evs []harness.Event, p *harness.Process, table string, rows, updates int, wantSum int64) {
	t.Helper()
	stale := snapshotOrderViolations(t, evs)
	last := map[string]int64{}
	reads := 0
	for _, e := range evs {
		if e.Value == nil {
			continue
		}
		if e.Op() == "r" {
			reads++
		}
		last[harness.KeyString(e.Key)] = harness.Int(e.After(), "v")
	}
	var gotSum int64
	for _, v := range last {
		gotSum += v
	}
	out := p.Output()
	split := splitTables([]string{out})
	chunks := strings.Count(out, `msg="snapshot chunk read"`)
	// Chunks read again because their read missed a transaction that
	// committed before their low watermark [S2].
	missed := strings.Count(out, "its read missed a transaction committed before its low watermark")
	t.Logf("figures: table=%s rows=%d updates=%d chunks=%d snapshot_reads=%d keys=%d stale_snapshot_rows=%d sum_v kafka=%d table=%d key_ranges=%d chunks_read_again_for_a_missed_commit=%d",
		table, rows, updates, chunks, reads, len(last), stale, gotSum, wantSum, split[table], missed)
	if split[table] < 2 {
		t.Errorf("the table was not split into key ranges: %v", split)
	}
	if stale != 0 || len(last) != rows || gotSum != wantSum || reads == 0 {
		t.Errorf("%s: %d stale rows, %d keys (want %d), sum of v %d (want %d), %d snapshot reads", table, stale, len(last), rows, gotSum, wantSum, reads)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
