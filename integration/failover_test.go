package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// failoverMajor is the PostgreSQL major of the failover test: failover
// slots need 17+, and a standby needs pg_basebackup, which the build of 18
// ships (docs/operations.md, Tested versions).
const failoverMajor = 18

// TestPostgresFailover: a primary with a streaming standby that keeps a
// synchronized copy of Sluice's slot (failover slots). Sluice runs in
// exactly-once mode through a host list with target_session_attrs=read-write
// under a mixed multi-table load; the primary is killed (-9) mid-load, the
// standby promoted, and the load goes on against it. Sluice resumes from the
// synchronized slot: lost 0, duplicated 0, order kept, final state equal.
func TestPostgresFailover(t *testing.T) {
	t.Parallel() // its own servers; mostly waiting on them
	k, r := sharedKafka(t), sharedRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	primary, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{Major: failoverMajor})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, primary)
	standby, err := testenv.StartPostgresStandby(ctx, primary, "standby_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, standby)
	// Sluice never gets ahead of the standby; commits wait for it, so
	// that every acknowledged transaction survives the failover.
	if err := primary.Reconfigure(ctx, map[string]string{
		"synchronized_standby_slots": "standby_1", "synchronous_standby_names": "*",
	}); err != nil {
		t.Fatal(err)
	}
	direct, db := pgDB(t, primary)
	name := testName(t)
	hosts := fmt.Sprintf("host=%s,%s port=%d,%d user=%s password=%s dbname=%s sslmode=disable target_session_attrs=read-write",
		primary.Host, standby.Host, primary.Port, standby.Port, testenv.PostgresSuperuser, testenv.PostgresSuperuserPassword, name)
	tables := []string{"a", "b", "c"}
	load := newPgLoad(t, db, tables, 20_000, 200)
	load.pause = 40 * time.Millisecond
	src := &pgSource{db: db}
	f := &faultRun{t: t, name: name, src: src, dsn: hosts, brokers: k.Brokers(), reg: r.URL, tables: tables,
		stats: &load.loadStats, env: []string{"SLUICE_KAFKA_EXACTLY_ONCE=true"}}
	f.run(ctx, 0, func(p *harness.Process) {
		p.WaitFor(ctx, "msg=streaming", 90*time.Second)
		waitSyncedSlot(ctx, t, standby, name, "sluice_"+name)
		loadErr := make(chan error, 1)
		go func() { loadErr <- load.run(ctx, direct) }()
		waitRows(ctx, &load.loadStats, 8_000)
		t.Log("killing the primary")
		if err := primary.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := <-loadErr; err == nil {
			t.Fatal("the load finished before the primary was killed")
		}
		if err := standby.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		t.Log("standby promoted")
		newDB, err := pgx.Connect(ctx, standby.SuperuserDSN(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { newDB.Close(context.Background()) })
		src.db = newDB
		// The transaction under way at the kill may have committed on the
		// standby without the load hearing of it: go on after its ids.
		var next int64
		q := make([]string, len(tables))
		for i, tb := range tables {
			q[i] = "SELECT max(id) FROM " + tb
		}
		if err := newDB.QueryRow(ctx, "SELECT coalesce(greatest(("+strings.Join(q, "), (")+")), 0) + 1").Scan(&next); err != nil {
			t.Fatal(err)
		}
		load.nextID.Store(max(next, load.nextID.Load()))
		load.rows = load.nextID.Load() + 10_000
		if err := load.run(ctx, standby.SuperuserDSN(name)); err != nil {
			t.Fatal(err)
		}
		p.WaitFor(ctx, "msg=streaming", 2*time.Minute)
	})
}

// waitSyncedSlot waits until the standby holds a synchronized, persistent
// copy of the primary's slot (only those survive a promotion).
func waitSyncedSlot(ctx context.Context, t *testing.T, standby *testenv.Postgres, db, slot string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	// The standby flushed the database's creation before the primary's
	// commit returned, but may not have replayed it yet on a loaded
	// machine: the database appears there a little later.
	var c *pgx.Conn
	for {
		var err error
		if c, err = pgx.Connect(ctx, standby.SuperuserDSN(db)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer c.Close(context.Background())
	for {
		var ok bool
		err := c.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1 AND synced AND NOT temporary AND failover)", slot).Scan(&ok)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby has no synchronized copy of slot %s after 2m", slot)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPostgresFailoverRefused: after a failover Sluice stops, saying which
// and what to do, when the promoted standby has no copy of the slot (it did
// not set sync_replication_slots), and when its WAL ends before the
// checkpoint (it stopped receiving WAL, and nothing held Sluice back).
func TestPostgresFailoverRefused(t *testing.T) {
	t.Parallel() // its own servers; mostly waiting on them
	k, r := sharedKafka(t), sharedRegistry(t)
	for _, tc := range []struct {
		name    string
		standby map[string]string
		// detach, when set, cuts the standby off the primary before the
		// last changes.
		detach bool
		want   []string
	}{
		{name: "slot missing", standby: map[string]string{"sync_replication_slots": "off"},
			want: []string{"does not exist", "promoted standby had no synchronized copy", "sync_replication_slots = on"}},
		{name: "standby behind", detach: true,
			want: []string{"before the checkpoint", "lacks changes Sluice already sent", "synchronized_standby_slots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			primary, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{Major: failoverMajor})
			if err != nil {
				t.Fatal(err)
			}
			testenv.Cleanup(t, primary)
			standby, err := testenv.StartPostgresStandby(ctx, primary, "standby_1", tc.standby)
			if err != nil {
				t.Fatal(err)
			}
			testenv.Cleanup(t, standby)
			_, db := pgDB(t, primary)
			name := testName(t)
			hosts := fmt.Sprintf("host=%s,%s port=%d,%d user=%s password=%s dbname=%s sslmode=disable target_session_attrs=read-write",
				primary.Host, standby.Host, primary.Port, standby.Port, testenv.PostgresSuperuser, testenv.PostgresSuperuserPassword, name)
			exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
			exec(t, db, `INSERT INTO t SELECT generate_series(1, 10)`)
			cfg := harness.WriteConfig(t, pgConfig(name, hosts, k, r, ""))
			p := harness.Start(t, []string{"SLUICE_KAFKA_EXACTLY_ONCE=true"}, "run", "-c", cfg)
			p.WaitFor(ctx, `msg="snapshots done"`, 90*time.Second)
			_, lines := checkLines(t, pgConfig(name, hosts, k, r, ""), nil)
			findLine(t, lines, "PASS postgres slot failover: slot sluice_"+name+" has failover = true")
			if tc.detach {
				waitSyncedSlot(ctx, t, standby, name, "sluice_"+name)
				if err := standby.Reconfigure(ctx, map[string]string{"primary_conninfo": ""}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second) // the WAL receiver stops
			}
			// Megabytes of WAL: far more than the promoted standby writes
			// before Sluice reconnects.
			const rows = 30_000
			exec(t, db, fmt.Sprintf(`INSERT INTO t SELECT generate_series(11, %d)`, rows))
			rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.t")
			rd.ReadUntil(ctx, t, 2*time.Minute, func(e []harness.Event) bool { return len(e) >= rows })
			time.Sleep(time.Second) // a checkpoint after them
			if err := primary.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := standby.Promote(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.detach {
				c, err := pgx.Connect(ctx, standby.SuperuserDSN(name))
				if err != nil {
					t.Fatal(err)
				}
				var n int
				err = c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
				c.Close(ctx)
				if err != nil || n == rows {
					t.Fatalf("the promoted standby has %d rows (%v): it was not cut off", n, err)
				}
			}
			if code := p.Wait(2 * time.Minute); code != 1 {
				t.Fatalf("exit code %d, want 1; output:\n%s", code, p.Output())
			}
			for _, w := range tc.want {
				if !strings.Contains(p.Output(), w) {
					t.Errorf("the output does not say %q:\n%s", w, tailLines(p.Output(), 20))
				}
			}
		})
	}
}
