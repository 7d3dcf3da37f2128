package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestSecondInstanceDuringSnapshot: Postgres does not hold a slot during
// the initial snapshot, so a second instance started then must be kept out
// by Sluice itself; otherwise it would drop the first one's slot and take
// the snapshot over. It is refused, and the first delivers every row once.
func TestSecondInstanceDuringSnapshot(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	const rows = 300_000
	exec(t, db, `CREATE TABLE t (id bigint PRIMARY KEY, pad text)`)
	exec(t, db, `INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 300000) g`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, "snapshot: {parallelism: 1}\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := harness.Start(t, nil, "run", "-c", cfg)
	a.WaitFor(ctx, `msg="snapshot started"`, time.Minute)
	code, out := harness.Run(t, time.Minute, nil, "run", "-c", cfg)
	// The snapshot is read while streaming: it is done at "snapshots done".
	snapshotDone := strings.Contains(a.Output(), `msg="snapshots done"`)
	t.Logf("figures: second instance exit %d; first still in its snapshot when the second was refused: %v", code, !snapshotDone)
	if code != 1 || !strings.Contains(out, "in use by another connection") {
		t.Fatalf("second instance exit %d, want 1 and the slot in use:\n%s", code, out)
	}
	a.WaitFor(ctx, `msg="snapshots done"`, 2*time.Minute)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.t")
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= rows })
	if rep := harness.Check(evs, nil); rep.Duplicates != 0 || len(evs) != rows {
		t.Errorf("got %d events (%s), want %d", len(evs), rep, rows)
	}
	if code := a.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
