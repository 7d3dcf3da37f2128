package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresSnapshotHoldsNothing: while a long chunked snapshot runs,
// VACUUM removes dead rows (no Sluice session holds an xmin horizon
// between chunks) and ALTER TABLE ... ADD COLUMN on the table being read
// gets its lock within about one chunk's read, and the snapshot still
// delivers every row.
func TestPostgresSnapshotHoldsNothing(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	const rows = 200_000
	exec(t, db, `CREATE TABLE big (id bigint PRIMARY KEY, pad text)`)
	exec(t, db, fmt.Sprintf(`INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, %d) g`, rows))
	exec(t, db, `CREATE TABLE churn (id int PRIMARY KEY, v int)`)
	exec(t, db, `INSERT INTO churn SELECT g, 0 FROM generate_series(1, 1000) g`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := harness.WriteConfig(t, strings.Replace(pgConfig(name, dsn, k, r, "snapshot: {chunk_size: 1000, parallelism: 1}\n"),
		"  type: postgres\n", "  type: postgres\n  tables: [public.big]\n", 1))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshot chunk read"`, time.Minute)

	// Every 100 ms until the snapshot is done, on a connection of its own:
	// a chunk's read is a transaction of a few statements, idle in
	// transaction for the moment between two of them, and a sample can
	// catch that (counted in brief). What must never be seen is a
	// transaction holding its xmin longer than a chunk's read: one begun
	// over a second before and still open (the old exported snapshot held
	// one for the whole snapshot).
	sampler, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sampler.Close(context.Background())
	type holding struct {
		long, brief, samples int
		err                  error
	}
	sampled := make(chan holding, 1)
	go func() {
		var h holding
		defer func() { sampled <- h }()
		for !strings.Contains(p.Output(), `msg="snapshot of table done"`) && ctx.Err() == nil {
			var long, any int
			if err := sampler.QueryRow(ctx, `SELECT count(*) FILTER (WHERE now() - xact_start > interval '1 second'), count(*)
				FROM pg_stat_activity WHERE datname = current_database()
				AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL AND backend_type = 'client backend'
				AND state = 'idle in transaction'`).Scan(&long, &any); err != nil {
				h.err = err
				return
			}
			h.long, h.brief, h.samples = max(h.long, long), h.brief+any-long, h.samples+1
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// Dead rows made while the snapshot runs are removable.
	exec(t, db, `UPDATE churn SET v = v + 1`)
	var dead int64 = -1
	for try := 0; try < 20; try++ {
		exec(t, db, `VACUUM churn`)
		if err := db.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'churn'`).Scan(&dead); err != nil {
			t.Fatal(err)
		}
		if dead == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// DDL on the table being read waits at most about one chunk.
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	start := time.Now()
	if _, err := c.Exec(ctx, `SET lock_timeout = '5s'; ALTER TABLE big ADD COLUMN extra int`); err != nil {
		t.Fatalf("ALTER TABLE during the snapshot: %v", err)
	}
	waited := time.Since(start)
	snapshotRunning := !strings.Contains(p.Output(), `msg="snapshot of table done"`)

	p.WaitFor(ctx, `msg="snapshot of table done"`, 2*time.Minute)
	held := <-sampled
	if held.err != nil || held.samples == 0 {
		t.Fatalf("sampling pg_stat_activity during the snapshot: %d samples, error %v", held.samples, held.err)
	}
	holders := held.long
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.big")
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= rows })
	evs = append(evs, rd.Quiet(ctx, t, 2*time.Second)...)
	rep := harness.Check(evs, nil)
	t.Logf("figures: dead_rows_after_vacuum=%d idle_in_transaction_xmin_holders_over_1s=%d brief_ones=%d samples=%d alter_table_waited=%s snapshot_running_at_alter=%v %s",
		dead, holders, held.brief, held.samples, waited.Round(time.Millisecond), snapshotRunning, rep)
	if dead != 0 {
		t.Errorf("VACUUM left %d dead rows during the snapshot: something holds the xmin horizon", dead)
	}
	if holders != 0 {
		t.Errorf("%d sessions idle in a transaction with an xmin, begun over 1 s before, during the snapshot", holders)
	}
	if !snapshotRunning {
		t.Errorf("the snapshot ended before the ALTER TABLE: make the table larger")
	}
	if rep.Keys != rows || rep.Duplicates != 0 {
		t.Errorf("want each of %d rows once, got %s", rows, rep)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
