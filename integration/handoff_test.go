package integration

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresSnapshotHandoff inserts at full speed while the snapshot
// runs and after it: every id must arrive exactly once (as a snapshot read
// or as a create), in order per key.
func TestPostgresSnapshotHandoff(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, pad text)`)
	const preload = 200_000
	// About 45 MB: 20 chunks, read while the writer goes on.
	exec(t, db, fmt.Sprintf(`INSERT INTO items SELECT g, 0, repeat(md5(g::text), 6) FROM generate_series(1, %d) g`, preload))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var next atomic.Int64
	next.Store(preload + 1)
	done := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			done <- err
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			id := next.Load()
			// Small transactions of 1 to 10 rows, back to back.
			n := id%10 + 1
			if _, err := conn.Exec(ctx, `INSERT INTO items SELECT g, 1, 'live' FROM generate_series($1::bigint, $2::bigint) g`, id, id+n-1); err != nil {
				if ctx.Err() != nil {
					break
				}
				done <- err
				return
			}
			next.Store(id + n)
		}
		done <- nil
	}()
	time.Sleep(300 * time.Millisecond) // the writer is running before the slot exists
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, "snapshot: {parallelism: 2}\n"))
	// Compressed with zstd: consumers see the same events whatever the
	// codec (the default is none).
	p := harness.Start(t, []string{"SLUICE_KAFKA_COMPRESSION=zstd"}, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshot of table done"`, 5*time.Minute) // a shared machine can be slow
	time.Sleep(2 * time.Second)                                   // keep writing while streaming
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	last := next.Load() - 1
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.items")
	seen := map[int64]string{}
	dups := 0
	// The writer ran for the whole snapshot: on a loaded machine, millions
	// of events to decode.
	evs := rd.ReadUntil(context.Background(), t, 5*time.Minute, func(evs []harness.Event) bool { return int64(len(evs)) >= last })
	for _, e := range evs {
		id := harness.Int(e.Key, "id")
		if prev, ok := seen[id]; ok {
			dups++
			if dups < 5 {
				t.Errorf("id %d delivered twice (%s then %s)", id, prev, e.Op())
			}
		}
		seen[id] = e.Op()
	}
	missing := 0
	reads, creates := 0, 0
	for id := int64(1); id <= last; id++ {
		switch seen[id] {
		case "":
			missing++
			if missing < 5 {
				t.Errorf("id %d never delivered", id)
			}
		case "r":
			reads++
		case "c":
			creates++
		}
	}
	rep := harness.Check(evs, nil)
	t.Logf("figures: ids=%d snapshot_reads=%d streamed_creates=%d missing=%d duplicated=%d order_violations=%d", last, reads, creates, missing, dups, rep.OrderViolations)
	if creates == 0 || reads < preload {
		t.Errorf("expected the handoff to split ids between the snapshot (%d) and the stream (%d)", reads, creates)
	}
	if missing != 0 || dups != 0 || rep.OrderViolations != 0 {
		t.Fatalf("handoff lost or repeated events")
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
