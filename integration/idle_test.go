package integration

import (
	"context"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresIdleSlot: with the captured table idle and 200 MB of WAL
// written to a table Sluice does not capture, heartbeats keep the slot's
// retained WAL small; with heartbeats off it grows (so the test can fail).
func TestPostgresIdleSlot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		heartbeat string
	}{{"heartbeat_on", "1s"}, {"heartbeat_off", "0s"}} {
		t.Run(tc.name, func(t *testing.T) {
			pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
			dsn, db := pgDB(t, pg)
			name := testName(t)
			exec(t, db, `CREATE TABLE captured (id int PRIMARY KEY)`)
			exec(t, db, `CREATE TABLE junk (id int, pad text)`)
			cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, "")+
				"# only the captured table\n")
			env := []string{"SLUICE_SOURCE_TABLES=public.captured", "SLUICE_SOURCE_POSTGRES_HEARTBEAT_INTERVAL=" + tc.heartbeat}
			p := harness.Start(t, env, "run", "-c", cfg)
			ctx := context.Background()
			p.WaitFor(ctx, "msg=streaming", 60*time.Second)
			exec(t, db, `ALTER TABLE junk SET (autovacuum_enabled = false)`)
			// About 200 MB of WAL in the uncaptured table.
			for i := 0; i < 4; i++ {
				exec(t, db, `INSERT INTO junk SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 50000) g`)
			}
			slot := "sluice_" + name
			retained := func() int64 {
				var n int64
				if err := db.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			written := retained()
			const limit = 32 << 20
			// Heartbeats on: under 32 MB within 60s. Off: 20s of
			// watching is enough to show it does not shrink.
			wait := 60 * time.Second
			if tc.heartbeat == "0s" {
				wait = 20 * time.Second
			}
			deadline := time.Now().Add(wait)
			var got int64
			for {
				got = retained()
				if got < limit || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Second)
			}
			t.Logf("figures: %s retained WAL right after the writes %d MB, %d MB after %s", tc.name, written>>20,
				got>>20, (wait - time.Until(deadline)).Round(time.Second))
			if written < 150<<20 {
				t.Fatalf("setup: only %d MB of WAL written", written>>20)
			}
			if tc.heartbeat != "0s" && got >= limit {
				t.Errorf("heartbeats on: slot still retains %d MB of WAL after 60s (want < 32 MB)", got>>20)
			}
			if tc.heartbeat == "0s" && got < limit {
				t.Errorf("heartbeats off: slot retains only %d MB; the test cannot tell heartbeats from no heartbeats", got>>20)
			}
			if code := p.Interrupt(30 * time.Second); code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
	}
}
