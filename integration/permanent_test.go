package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPermanentErrorsStop: an error that a restart cannot fix stops Sluice
// (exit 1) with a message naming the cause and the fix, instead of
// restarting the pipeline from the checkpoint forever. Each case fails
// after the pipeline has started, where transient errors are retried.
func TestPermanentErrorsStop(t *testing.T) {
	t.Run("postgres_key_column_excluded", func(t *testing.T) {
		pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
		dsn, db := pgDB(t, pg)
		exec(t, db, "CREATE TABLE t (id int PRIMARY KEY, v text)")
		exec(t, db, "INSERT INTO t VALUES (1, 'a')")
		cfg := harness.WriteConfig(t, strings.Replace(pgConfig(testName(t), dsn, k, r, ""), "  type: postgres\n",
			"  type: postgres\n  exclude_columns: [public.t.id]\n", 1))
		stops(t, harness.Start(t, nil, "run", "-c", cfg), nil, "public.t.id", "source.exclude_columns")
	})
	t.Run("mariadb_unsupported_column_type", func(t *testing.T) {
		m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
		dbname, db := myDB(t, m)
		myExec(t, db, "CREATE TABLE u (id int PRIMARY KEY, x uuid)")
		myExec(t, db, "INSERT INTO u VALUES (1, uuid())")
		cfg := harness.WriteConfig(t, myConfig(testName(t), m.RootDSN(""), dbname, myServerID(), k, r, ""))
		stops(t, harness.Start(t, nil, "run", "-c", cfg), nil, ".u column", "(uuid)", "source.exclude_columns")
	})
	t.Run("mariadb_xa_transaction", func(t *testing.T) {
		m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
		dbname, db := myDB(t, m)
		myExec(t, db, "CREATE TABLE x (id int PRIMARY KEY)")
		cfg := harness.WriteConfig(t, myConfig(testName(t), m.RootDSN(""), dbname, myServerID(), k, r, ""))
		p := harness.Start(t, nil, "run", "-c", cfg)
		stops(t, p, func() {
			p.WaitFor(context.Background(), "msg=streaming", 90*time.Second)
			conn := myOpen(t, m, dbname)
			defer conn.Close()
			c, err := conn.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, q := range []string{"XA START 'sluice1'", "INSERT INTO x VALUES (1)", "XA END 'sluice1'", "XA PREPARE 'sluice1'", "XA COMMIT 'sluice1'"} {
				if _, err := c.ExecContext(context.Background(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}, "XA transaction", "without XA")
	})
}

// stops runs act (when not nil) and then waits for p to exit with code 1
// and a message holding each of want, without a restart.
func stops(t *testing.T, p *harness.Process, act func(), want ...string) {
	t.Helper()
	if act != nil {
		act()
	}
	code := p.Wait(90 * time.Second)
	out := p.Output()
	restarts := strings.Count(out, "restarting from the last checkpoint")
	t.Logf("figures: exit=%d restarts=%d", code, restarts)
	if code != 1 || restarts != 0 {
		t.Fatalf("exit code %d after %d restarts, want 1 and none:\n%s", code, restarts, tail(out, 4000))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output does not name %q:\n%s", w, tail(out, 4000))
		}
	}
}
