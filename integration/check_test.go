package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// checkTimeout bounds one `sluice check` or `sluice status` run; generous
// because the machine runs other suites at the same time.
const checkTimeout = 2 * time.Minute

// createRole creates a login role with password rolePassword in the
// test's database, dropped (with its grants) when the test ends. attrs are
// extra role attributes, e.g. "REPLICATION".
func createRole(t *testing.T, db *pgx.Conn, role, attrs string) {
	t.Helper()
	id := pgx.Identifier{role}.Sanitize()
	exec(t, db, "DROP ROLE IF EXISTS "+id)
	exec(t, db, fmt.Sprintf("CREATE ROLE %s WITH LOGIN %s PASSWORD '%s'", id, attrs, rolePassword))
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = db.Exec(ctx, "DROP OWNED BY "+id)
		_, _ = db.Exec(ctx, "DROP ROLE "+id)
	})
}

const rolePassword = "Chk-s3cret"

// leastPrivilege sets a database up as docs/operations.md says: a role
// with LOGIN REPLICATION and SELECT on the captured tables, and the
// publication created by the tables' owner. It returns the role's DSN.
func leastPrivilege(t *testing.T, pg *testenv.Postgres, db *pgx.Conn, role, publication string, tables ...string) string {
	t.Helper()
	createRole(t, db, role, "REPLICATION")
	exec(t, db, "GRANT SELECT ON "+strings.Join(tables, ", ")+" TO "+pgx.Identifier{role}.Sanitize())
	exec(t, db, "CREATE PUBLICATION "+pgx.Identifier{publication}.Sanitize()+" FOR TABLE "+strings.Join(tables, ", "))
	return pg.DSN(role, rolePassword, testName(t))
}

// checkLines runs `sluice check` and returns its exit code and output
// lines.
func checkLines(t *testing.T, config string, env []string) (int, []string) {
	t.Helper()
	code, out := harness.Run(t, checkTimeout, env, "check", "-c", harness.WriteConfig(t, config))
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return code, lines
}

// findLine returns the first line starting with prefix, failing the test
// when there is none.
func findLine(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Errorf("no line starts with %q; output:\n%s", prefix, strings.Join(lines, "\n"))
	return ""
}

// TestCheckPasses: on a correctly set up Postgres, Kafka and registry,
// `sluice check` exits 0 and every line is PASS or WARN, for a superuser
// and for the least-privilege role of docs/operations.md.
func TestCheckPasses(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE orders (id int PRIMARY KEY, note text)`)
	exec(t, db, `CREATE TABLE customers (id bigint PRIMARY KEY, email text)`)
	lpDSN := leastPrivilege(t, pg, db, name+"_lp", "sluice_"+name+"_lp", "public.orders", "public.customers")

	for _, tc := range []struct{ name, config string }{
		{"superuser", pgConfig(name, dsn, k, r, "")},
		{"least privilege", pgConfig(name+"_lp", lpDSN, k, r, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, lines := checkLines(t, tc.config, nil)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "PASS ") && !strings.HasPrefix(l, "WARN ") {
					t.Errorf("not PASS or WARN: %s", l)
				}
				if strings.Contains(l, rolePassword) || strings.Contains(l, testenv.PostgresSuperuserPassword+"@") {
					t.Errorf("a password is printed: %s", l)
				}
			}
			for _, want := range []string{
				"PASS postgres connection:", "PASS postgres wal_level: logical", "PASS postgres replication connection:",
				"PASS postgres max_replication_slots:", "PASS postgres max_wal_senders:", "PASS postgres SELECT: on all 2 captured table(s)",
				"PASS postgres publication", "PASS postgres replication slot", "PASS kafka brokers:", "PASS kafka checkpoint:",
				"PASS kafka topics:", "PASS kafka transactions:", "PASS schema registry:", "PASS schema registry compatibility:",
			} {
				findLine(t, lines, want)
			}
			if t.Failed() {
				t.Logf("output:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// TestCheckFails: each missing prerequisite gives a FAIL line (a WARN for
// a table without primary key) that names the problem and the exact fix,
// and a FAIL makes the exit code 1.
func TestCheckFails(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE orders (id int PRIMARY KEY, note text)`)
	exec(t, db, `CREATE TABLE payroll (id int PRIMARY KEY, salary numeric)`)
	exec(t, db, `CREATE TABLE events (at timestamptz, body text)`) // no primary key

	noRepl := name + "_norepl"
	createRole(t, db, noRepl, "")
	exec(t, db, "GRANT SELECT ON orders TO "+noRepl)
	noSelect := name + "_nosel"
	createRole(t, db, noSelect, "REPLICATION")
	exec(t, db, "GRANT SELECT ON orders TO "+noSelect) // but not on payroll
	exec(t, db, "CREATE PUBLICATION "+"sluice_"+name+" FOR TABLE orders, payroll")

	ctx, cancel := startCtx()
	defer cancel()
	walPG, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{ExtraConf: map[string]string{"wal_level": "replica"}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, walPG)

	closedPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("127.0.0.1:%d", closedPort)

	cases := []struct {
		name   string
		config string
		env    []string
		code   int
		line   string   // the line starting with this must exist
		want   []string // ... and contain each of these
	}{
		{
			name:   "wal_level replica",
			config: pgConfig(name, walPG.SuperuserDSN("postgres"), k, r, ""),
			code:   1,
			line:   "FAIL postgres wal_level:",
			want:   []string{`is "replica"`, "fix: ALTER SYSTEM SET wal_level = logical; then restart Postgres"},
		},
		{
			name:   "role without REPLICATION",
			config: pgConfig(name, pg.DSN(noRepl, rolePassword, testName(t)), k, r, ""),
			env:    []string{"SLUICE_SOURCE_TABLES=public.orders"},
			code:   1,
			line:   "FAIL postgres role " + noRepl + ":",
			want:   []string{"lacks the REPLICATION attribute", `fix: ALTER ROLE "` + noRepl + `" WITH REPLICATION`},
		},
		{
			name:   "role without SELECT on a captured table",
			config: pgConfig(name, pg.DSN(noSelect, rolePassword, testName(t)), k, r, ""),
			env:    []string{"SLUICE_SOURCE_TABLES=public.orders,public.payroll"},
			code:   1,
			line:   "FAIL postgres SELECT on public.payroll:",
			want:   []string{`fix: GRANT SELECT ON "public"."payroll" TO "` + noSelect + `"`},
		},
		{
			name:   "table without primary key",
			config: pgConfig(name, dsn, k, r, ""),
			env:    []string{"SLUICE_SOURCE_TABLES=public.orders,public.events"},
			code:   0, // a warning, not a failure
			line:   "WARN postgres primary key of public.events:",
			want:   []string{"REPLICA IDENTITY DEFAULT", `ALTER TABLE "public"."events" REPLICA IDENTITY FULL`},
		},
		{
			name:   "unreachable Kafka",
			config: pgConfig(name, dsn, k, r, ""),
			env:    []string{"SLUICE_SOURCE_TABLES=public.orders", "SLUICE_KAFKA_BROKERS=" + closed},
			code:   1,
			line:   "FAIL kafka brokers:",
			want:   []string{closed, "fix: check kafka.brokers"},
		},
		{
			name:   "unreachable registry",
			config: pgConfig(name, dsn, k, r, ""),
			env:    []string{"SLUICE_SOURCE_TABLES=public.orders", "SLUICE_SCHEMA_REGISTRY_URL=http://" + closed},
			code:   1,
			line:   "FAIL schema registry:",
			want:   []string{closed, "fix: check schema_registry.url"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, lines := checkLines(t, tc.config, tc.env)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			line := findLine(t, lines, tc.line)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("line lacks %q: %s", w, line)
				}
			}
			fails := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "FAIL ") {
					fails++
					if !strings.Contains(l, "; fix: ") {
						t.Errorf("a FAIL line without a fix: %s", l)
					}
				}
				if strings.Contains(l, rolePassword) || strings.Contains(l, testenv.PostgresSuperuserPassword+"@") {
					t.Errorf("a password is printed: %s", l)
				}
			}
			if (fails > 0) != (tc.code == 1) {
				t.Errorf("%d FAIL lines with exit code %d", fails, code)
			}
			if t.Failed() {
				t.Logf("output:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// statusJSON runs `sluice status --json` and decodes it.
func statusJSON(t *testing.T, cfg string) map[string]any {
	t.Helper()
	code, out := harness.Run(t, checkTimeout, nil, "status", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("sluice status exit code %d; output:\n%s", code, out)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(out)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	return m
}

func jsonNum(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("%s = %#v, want a number", key, m[key])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStatus: after a short run (as the least-privilege role, which also
// shows the documented grants suffice for `sluice run`), `sluice status
// --json` reports the checkpoint, a finished snapshot, the source
// position, a lag >= 0 and the slot. `sluice check` against the running
// instance passes and does not disturb it: in exactly-once mode it must
// not fence the running producer.
func TestStatus(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	_, db := pgDB(t, pg)
	name := testName(t)
	ctx := context.Background()
	exec(t, db, `CREATE TABLE items (id int PRIMARY KEY, v text)`)
	exec(t, db, `INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 3) g`)
	lpDSN := leastPrivilege(t, pg, db, name+"_lp", "sluice_"+name, "public.items")
	cfg := harness.WriteConfig(t, pgConfig(name, lpDSN, k, r, ""))

	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 2*time.Minute)
	exec(t, db, `INSERT INTO items VALUES (4, 'v4'), (5, 'v5')`)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.items")
	ids := func(evs []harness.Event) map[int64]bool {
		got := map[int64]bool{}
		for _, e := range evs {
			got[harness.Int(e.Key, "id")] = true
		}
		return got
	}
	// read_committed: the events are visible once their transaction, which
	// carries the checkpoint, is committed.
	rd.ReadUntil(ctx, t, 2*time.Minute, func(evs []harness.Event) bool { return len(ids(evs)) == 5 })

	t.Run("running", func(t *testing.T) {
		st := statusJSON(t, cfg)
		for _, key := range []string{"name", "source_type", "checkpoint_found", "checkpoint_position", "checkpoint_time",
			"checkpoint_age_seconds", "snapshot_done", "checkpoint_server_id", "source_server_id", "source_position", "lag_bytes", "slot"} {
			if _, ok := st[key]; !ok {
				t.Errorf("field %s missing: %v", key, st)
			}
		}
		if st["name"] != name || st["source_type"] != "postgres" {
			t.Errorf("name, source_type = %v, %v", st["name"], st["source_type"])
		}
		if st["checkpoint_found"] != true || st["snapshot_done"] != true {
			t.Errorf("checkpoint_found = %v, snapshot_done = %v; want true, true", st["checkpoint_found"], st["snapshot_done"])
		}
		if lag := jsonNum(t, st, "lag_bytes"); lag < 0 {
			t.Errorf("lag_bytes = %v, want >= 0", lag)
		}
		if age := jsonNum(t, st, "checkpoint_age_seconds"); age < 0 || age > 60 {
			t.Errorf("checkpoint_age_seconds = %v, want a recent checkpoint", age)
		}
		if st["checkpoint_server_id"] != st["source_server_id"] {
			t.Errorf("checkpoint_server_id %v != source_server_id %v", st["checkpoint_server_id"], st["source_server_id"])
		}
		for _, key := range []string{"checkpoint_position", "source_position"} {
			pos, _ := st[key].(map[string]any)
			if s, _ := pos["lsn"].(string); !strings.Contains(s, "/") {
				t.Errorf("%s = %v, want {\"lsn\": \"X/Y\"}", key, st[key])
			}
		}
		slot, _ := st["slot"].(map[string]any)
		if slot["name"] != "sluice_"+name || slot["exists"] != true || slot["active"] != true {
			t.Errorf("slot = %v, want sluice_%s existing and active", slot, name)
		}
		if ws := slot["wal_status"]; ws != "reserved" && ws != "extended" {
			t.Errorf("slot wal_status = %v", ws)
		}
		for _, key := range []string{"confirmed_flush_lsn", "restart_lsn"} {
			if s, _ := slot[key].(string); !strings.Contains(s, "/") {
				t.Errorf("slot %s = %v", key, slot[key])
			}
		}
		if n := jsonNum(t, slot, "retained_wal_bytes"); n < 0 {
			t.Errorf("slot retained_wal_bytes = %v", n)
		}
	})

	t.Run("check against the running instance", func(t *testing.T) {
		code, lines := checkLines(t, pgConfig(name, lpDSN, k, r, ""), nil)
		if code != 0 {
			t.Errorf("exit code %d, want 0; output:\n%s", code, strings.Join(lines, "\n"))
		}
		slot := findLine(t, lines, "PASS postgres replication slot sluice_"+name+":")
		if !strings.Contains(slot, "active") {
			t.Errorf("slot line does not say active: %s", slot)
		}
		findLine(t, lines, "PASS postgres server identity:")
		findLine(t, lines, "PASS kafka checkpoint: lsn ")
		// Not fenced: the instance keeps running and delivering.
		exec(t, db, `INSERT INTO items VALUES (6, 'after check')`)
		rd.ReadUntil(ctx, t, 2*time.Minute, func(evs []harness.Event) bool { return ids(evs)[6] })
		if p.Exited() {
			t.Fatalf("sluice run exited after sluice check")
		}
	})

	if code := p.Interrupt(time.Minute); code != 0 {
		t.Fatalf("sluice run exit code %d", code)
	}

	t.Run("stopped", func(t *testing.T) {
		st := statusJSON(t, cfg)
		slot, _ := st["slot"].(map[string]any)
		if slot["exists"] != true || slot["active"] != false {
			t.Errorf("slot = %v, want existing and inactive", slot)
		}
		if st["snapshot_done"] != true {
			t.Errorf("snapshot_done = %v", st["snapshot_done"])
		}
		if lag := jsonNum(t, st, "lag_bytes"); lag < 0 {
			t.Errorf("lag_bytes = %v, want >= 0", lag)
		}
		code, out := harness.Run(t, checkTimeout, nil, "status", "-c", cfg)
		if code != 0 {
			t.Errorf("text status exit code %d", code)
		}
		for _, w := range []string{"checkpoint", "snapshot", "done", "lag", "slot sluice_" + name, "restart_lsn", "retained WAL"} {
			if !strings.Contains(out, w) {
				t.Errorf("text status lacks %q:\n%s", w, out)
			}
		}
	})
}
