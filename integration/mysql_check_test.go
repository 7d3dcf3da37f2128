package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestMySQLCheck: `sluice check` passes on a correctly set up MariaDB and
// gives a FAIL line with the exact fix for binlog_format=STATEMENT and for
// a user without the replication privileges.
func TestMySQLCheck(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY, v int)")
	name := testName(t)

	t.Run("passes", func(t *testing.T) {
		code, lines := checkLines(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""), nil)
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "PASS ") && !strings.HasPrefix(l, "WARN ") {
				t.Errorf("not PASS or WARN: %s", l)
			}
			if strings.Contains(l, testenv.MariaDBRootPassword+"@") {
				t.Errorf("a password is printed: %s", l)
			}
		}
		for _, want := range []string{
			"PASS mysql connection:", "PASS mysql log_bin: ON", "PASS mysql binlog_format: ROW", "PASS mysql binlog_row_image: FULL",
			"PASS mysql binlog_row_metadata: FULL", "PASS mariadb gtid_strict_mode: ON", "PASS mysql source.mysql.server_id:",
			"PASS mysql privileges of root:", "PASS mysql binlog retention:", "PASS mysql source.tables: 1 table(s)",
			"PASS mysql checkpoint position:", "PASS kafka brokers:", "PASS kafka topics:", "PASS schema registry:",
		} {
			findLine(t, lines, want)
		}
		t.Logf("output:\n%s", strings.Join(lines, "\n"))
	})

	t.Run("no_replication_privileges", func(t *testing.T) {
		user := name + "_plain"
		myExec(t, db, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'Pl-s3cret'")
		defer myExec(t, db, "DROP USER '"+user+"'@'%'")
		myExec(t, db, "GRANT SELECT ON "+dbname+".* TO '"+user+"'@'%'")
		code, lines := checkLines(t, myConfig(name+"_plain", m.DSN(user, "Pl-s3cret", ""), dbname, myServerID(), k, r, ""), nil)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		l := findLine(t, lines, "FAIL mysql privileges of "+user+": missing REPLICATION SLAVE, BINLOG MONITOR; fix: GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '"+user+"'@'<host>'")
		t.Log(l)
		findLine(t, lines, "PASS mysql connection:")
		for _, l := range lines {
			if strings.Contains(l, "Pl-s3cret") {
				t.Errorf("the password is printed: %s", l)
			}
		}
		if t.Failed() {
			t.Logf("output:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("binlog_format_statement", func(t *testing.T) {
		ctx, cancel := startCtx()
		defer cancel()
		bad, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{ExtraArgs: []string{"--binlog-format=STATEMENT"}})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Cleanup(t, bad)
		bdb, bconn := myDB(t, bad)
		myExec(t, bconn, "CREATE TABLE t (id int PRIMARY KEY)")
		code, lines := checkLines(t, myConfig(name+"_stmt", bad.RootDSN(""), bdb, myServerID(), k, r, ""), nil)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		l := findLine(t, lines, "FAIL mysql binlog_format: is STATEMENT, Sluice needs ROW")
		if !strings.Contains(l, "fix: SET GLOBAL binlog_format = 'ROW'; and put binlog_format=ROW under [mysqld] in my.cnf") {
			t.Errorf("no fix: %s", l)
		}
		t.Log(l)
		findLine(t, lines, "PASS mysql binlog_row_image: FULL")
		if t.Failed() {
			t.Logf("output:\n%s", strings.Join(lines, "\n"))
		}
	})
}

// TestMySQLStatus: after a short run, `sluice status --json` reports the
// checkpointed binlog position and GTID set, the server's position, a lag
// >= 0 and the binary log's oldest file; `sluice check` against the
// running instance passes.
func TestMySQLStatus(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY, v int)")
	myExec(t, db, "INSERT INTO t VALUES (1, 1), (2, 2)")
	name := testName(t)
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))

	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(context.Background(), "msg=streaming", 2*time.Minute)
	myExec(t, db, "INSERT INTO t VALUES (3, 3)")
	myWaitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)

	// A running instance: check still passes (its own replica
	// registration is recognised as this host's).
	code, out := harness.Run(t, checkTimeout, nil, "check", "-c", cfg)
	t.Logf("sluice check while running:\n%s", out)
	if code != 0 {
		t.Errorf("sluice check exit code %d while running, want 0", code)
	}

	st := statusJSON(t, cfg)
	t.Logf("sluice status --json: %v", st)
	if st["source_type"] != "mysql" || st["checkpoint_found"] != true || st["snapshot_done"] != true {
		t.Errorf("source_type/checkpoint_found/snapshot_done: %v", st)
	}
	cp, _ := st["checkpoint_position"].(map[string]any)
	src, _ := st["source_position"].(map[string]any)
	if cp == nil || src == nil || cp["file"] == nil || cp["gtid_set"] == nil || src["file"] == nil || src["gtid_set"] == nil {
		t.Fatalf("checkpoint_position %v, source_position %v: want file, pos and gtid_set", cp, src)
	}
	if st["source_server_id"] != "mariadb:1:0" || st["checkpoint_server_id"] != "mariadb:1:0" {
		t.Errorf("server ids: %v / %v", st["source_server_id"], st["checkpoint_server_id"])
	}
	bl, _ := st["binlog"].(map[string]any)
	if bl == nil || bl["oldest_file"] == nil || bl["checkpoint_available"] != true {
		t.Errorf("binlog: %v", bl)
	}
	if cp["file"] == src["file"] {
		if lag := jsonNum(t, st, "lag_bytes"); lag < 0 {
			t.Errorf("lag_bytes %v", lag)
		}
	} else if jsonNum(t, bl, "lag_files") < 1 {
		t.Errorf("files differ but lag_files is %v", bl["lag_files"])
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}

	// Stopped and caught up: the text form shows no lag.
	code, out = harness.Run(t, checkTimeout, nil, "status", "-c", cfg)
	t.Logf("sluice status:\n%s", out)
	if code != 0 || !strings.Contains(out, "binlog") {
		t.Errorf("sluice status exit code %d, output:\n%s", code, out)
	}
}
