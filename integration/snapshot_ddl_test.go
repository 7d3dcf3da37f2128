package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresSnapshotDDL: a rewriting ALTER TABLE issued during the
// snapshot, on a table the snapshot has not read yet, does not wait for
// the snapshot (no lock outlives one chunk's read), and every row of the
// table is still read once, with the table version it was read with.
func TestPostgresSnapshotDDL(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE a_big (id bigint PRIMARY KEY, pad text)`)
	exec(t, db, `INSERT INTO a_big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 300000) g`)
	exec(t, db, `CREATE TABLE b_small (id bigint PRIMARY KEY, v int NOT NULL)`)
	exec(t, db, `INSERT INTO b_small SELECT g, g FROM generate_series(1, 1000) g`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// One connection: a_big is read first, b_small after it.
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, "snapshot: {parallelism: 1}\n"))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshot started"`, time.Minute)
	altered := make(chan error, 1)
	var alteredAt time.Time
	go func() {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			altered <- err
			return
		}
		defer c.Close(context.Background())
		_, err = c.Exec(ctx, `ALTER TABLE b_small ALTER COLUMN v TYPE bigint`)
		alteredAt = time.Now()
		altered <- err
	}()
	p.WaitFor(ctx, "msg=streaming", 2*time.Minute)
	streamingAt := time.Now()
	if err := <-altered; err != nil {
		t.Fatalf("ALTER TABLE: %v", err)
	}
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.b_small")
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 1000 })
	reads := strings.Count(ops(evs), "r")
	t.Logf("figures: b_small snapshot reads %d of 1000; ALTER TABLE finished %s after streaming began",
		reads, alteredAt.Sub(streamingAt).Round(time.Millisecond))
	if reads != 1000 {
		t.Fatalf("the snapshot read %d of b_small's 1000 rows", reads)
	}
	if !strings.Contains(p.Output(), "msg=streaming") {
		t.Fatalf("no streaming:\n%s", p.Output())
	}
}
