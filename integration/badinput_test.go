package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestBadInput: each mistake an operator can make stops Sluice with an
// exit code and a message that names the problem and the fix, and never
// prints a secret.
func TestBadInput(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
	name := testName(t)
	ctx := context.Background()

	walPG, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{ExtraConf: map[string]string{"wal_level": "replica"}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, walPG)

	cases := []struct {
		name     string
		config   string
		env      []string
		code     int
		want     []string // each must appear in the output
		password string   // must not appear in the output
	}{
		{
			name:   "unknown key",
			config: pgConfig(name, dsn, k, r, "snapshot: {mdoe: initial}\n"),
			code:   2,
			want:   []string{"snapshot.mdoe", "snapshot.mode"},
		},
		{
			name:   "invalid value",
			config: pgConfig(name, dsn, k, r, "snapshot: {mode: sometimes}\n"),
			code:   2,
			want:   []string{"snapshot.mode", "initial", "never", "initial_only"},
		},
		{
			name:     "bad dsn",
			config:   pgConfig(name, "postgres://sluice:hunter2@127.0.0.1:notaport/db", k, r, ""),
			code:     2,
			want:     []string{"source.dsn", "postgres://user:password@host:5432/dbname"},
			password: "hunter2",
		},
		{
			name:     "wrong password",
			config:   pgConfig(name, pg.DSN(testenv.PostgresSuperuser, "wrong-s3cret", testName(t)), k, r, ""),
			code:     1,
			want:     []string{"authentication failed", "fix:", "password"},
			password: "wrong-s3cret",
		},
		{
			name:   "unreachable database",
			config: pgConfig(name, "postgres://sluice:pw@127.0.0.1:1/db?connect_timeout=2", k, r, ""),
			code:   1,
			want:   []string{"127.0.0.1:1", "check that Postgres is running"},
		},
		{
			name:   "wal_level not logical",
			config: pgConfig(name, walPG.SuperuserDSN("postgres"), k, r, ""),
			code:   1,
			want:   []string{"wal_level", "ALTER SYSTEM SET wal_level = logical"},
		},
		{
			name:   "no table matches",
			config: pgConfig(name, dsn, k, r, ""),
			env:    []string{"SLUICE_SOURCE_TABLES=public.nosuchtable"},
			code:   1,
			want:   []string{"source.tables", "public.nosuchtable", "matches no table", "case-sensitive"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := harness.WriteConfig(t, tc.config)
			code, out := harness.Run(t, 60*time.Second, tc.env, "run", "-c", cfg)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.password != "" && strings.Contains(out, tc.password) {
				t.Errorf("output contains the password:\n%s", out)
			}
		})
	}
}

// TestRecordTooLarge: a row larger than Kafka accepts stops the pipeline
// with an error that says what to do; the checkpoint does not pass it, so
// after the limit is raised the row arrives.
func TestRecordTooLarge(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE blobs (id int PRIMARY KEY, body text)`)
	createTopic(t, k.Brokers(), name+".public.blobs", map[string]*string{"max.message.bytes": ptr("4194304")})
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	small := []string{"SLUICE_KAFKA_MAX_RECORD_BYTES=100000"}
	p := harness.Start(t, small, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	exec(t, db, `INSERT INTO blobs VALUES (1, 'small')`)
	exec(t, db, `INSERT INTO blobs VALUES (2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 10000) g))`)
	exec(t, db, `INSERT INTO blobs VALUES (3, 'after')`)
	if code := p.Wait(60 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, w := range []string{"larger than Kafka accepts", "max.message.bytes", "kafka.max_record_bytes"} {
		if !strings.Contains(p.Output(), w) {
			t.Errorf("output lacks %q", w)
		}
	}
	// Raised limit: everything arrives, nothing was skipped.
	p2 := harness.Start(t, []string{"SLUICE_KAFKA_MAX_RECORD_BYTES=4000000"}, "run", "-c", cfg)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.blobs")
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool {
		ids := map[int64]bool{}
		for _, ev := range e {
			ids[harness.Int(ev.Key, "id")] = true
		}
		return ids[1] && ids[2] && ids[3]
	})
	if rep := harness.Check(evs, nil); rep.OrderViolations != 0 {
		t.Errorf("order: %s", rep)
	}
	if code := p2.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestPostgresStartKafkaFirst: the source connects and checks the server
// while Kafka and the registry get ready, but changes nothing on the
// server before they are: with the registry unreachable, Sluice stops
// with the registry's error (not a later one of the source's), and
// leaves no publication and no replication slot behind.
func TestPostgresStartKafkaFirst(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
	name := testName(t)
	config := strings.Replace(pgConfig(name, dsn, k, r, ""), "url: "+r.URL, "url: http://127.0.0.1:1", 1)
	code, out := harness.Run(t, 60*time.Second, nil, "run", "-c", harness.WriteConfig(t, config))
	if code == 0 || !strings.Contains(out, "schema registry not reachable") {
		t.Fatalf("exit code %d, want the registry's error:\n%s", code, out)
	}
	var slots, pubs int
	ctx := context.Background()
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1),
		(SELECT count(*) FROM pg_publication WHERE pubname = $1)`, "sluice_"+name).Scan(&slots, &pubs); err != nil {
		t.Fatal(err)
	}
	if slots != 0 || pubs != 0 {
		t.Fatalf("%d slots and %d publications named sluice_%s left behind", slots, pubs, name)
	}
}

// TestPostgresRefusesAnotherServer: a checkpoint taken from another
// server (another system identifier) is refused before anything is
// changed on this one: no publication, no replication slot. The source
// reads the checkpoint while it starts, once Kafka is ready
// (TestPostgresStartKafkaFirst). The checkpoint is rewritten with another
// identifier: the test servers share one initdb template, and so one.
func TestPostgresRefusesAnotherServer(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	ctx := context.Background()
	dsn, db := pgDB(t, pg)
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
	exec(t, db, `INSERT INTO t SELECT generate_series(1, 10)`)
	name := testName(t)
	once := "snapshot: {mode: initial_only}\n"
	if code, out := harness.Run(t, 90*time.Second, nil, "run", "-c", harness.WriteConfig(t, pgConfig(name, dsn, k, r, once))); code != 0 {
		t.Fatalf("snapshot: exit code %d:\n%s", code, out)
	}
	cp := storedCheckpoint(t, k.Brokers(), name)
	if cp.ServerID == "" {
		t.Fatalf("checkpoint %+v: no server identity", cp)
	}
	cp.ServerID = "7000000000000000001"
	storeCheckpoint(t, k.Brokers(), name, cp)
	exec(t, db, "DROP PUBLICATION IF EXISTS sluice_"+name)
	exec(t, db, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'sluice_"+name+"'")

	code, out := harness.Run(t, 60*time.Second, nil, "run", "-c", harness.WriteConfig(t, pgConfig(name, dsn, k, r, "")))
	if code == 0 || !strings.Contains(out, "the checkpoint belongs to server 7000000000000000001") {
		t.Fatalf("exit code %d, want the server identity refused:\n%s", code, out)
	}
	var slots, pubs int
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1),
		(SELECT count(*) FROM pg_publication WHERE pubname = $1)`, "sluice_"+name).Scan(&slots, &pubs); err != nil {
		t.Fatal(err)
	}
	if slots != 0 || pubs != 0 {
		t.Fatalf("%d slots and %d publications named sluice_%s made before the identity was checked", slots, pubs, name)
	}
}
