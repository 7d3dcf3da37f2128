package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// runRefused runs sluice with cfg and expects it to exit 1 printing every
// string in want (the problem and its fix).
func runRefused(t *testing.T, cfg string, want ...string) string {
	t.Helper()
	code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, cfg))
	if code != 1 {
		t.Errorf("exit code %d, want 1; output:\n%s", code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	logRefusal(t, out)
	return out
}

// logRefusal logs the error line of a refused run, for the test's record.
func logRefusal(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=ERROR") {
			t.Logf("refused: %s", l[strings.Index(l, "err="):])
		}
	}
}

// TestMySQLBadSettings: each unmet prerequisite is refused at start with
// the exact fix, on a MariaDB of its own whose settings the test changes.
func TestMySQLBadSettings(t *testing.T) {
	ctx, cancel := startCtx()
	defer cancel()
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, m)
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY, v int)")
	name := testName(t)
	cfg := func(dsn string, serverID uint32) string {
		return myConfig(name, dsn, dbname, serverID, k, r, "")
	}
	root := m.RootDSN("")

	for _, tc := range []struct{ variable, bad, good string }{
		{"binlog_format", "STATEMENT", "ROW"},
		{"binlog_row_image", "MINIMAL", "FULL"},
		{"binlog_row_metadata", "MINIMAL", "FULL"},
	} {
		t.Run(tc.variable, func(t *testing.T) {
			myExec(t, db, fmt.Sprintf("SET GLOBAL %s = '%s'", tc.variable, tc.bad))
			defer myExec(t, db, fmt.Sprintf("SET GLOBAL %s = '%s'", tc.variable, tc.good))
			runRefused(t, cfg(root, myServerID()),
				fmt.Sprintf("mysql %s: is %s, Sluice needs %s", tc.variable, tc.bad, tc.good),
				fmt.Sprintf("fix: SET GLOBAL %s = '%s'; and put %s=%s under [mysqld] in my.cnf", tc.variable, tc.good, tc.variable, tc.good))
		})
	}

	t.Run("no_replication_privileges", func(t *testing.T) {
		myExec(t, db, "CREATE USER 'plain'@'%' IDENTIFIED BY 'Pl-s3cret'")
		myExec(t, db, "GRANT SELECT ON "+dbname+".* TO 'plain'@'%'")
		defer myExec(t, db, "DROP USER 'plain'@'%'")
		out := runRefused(t, cfg(m.DSN("plain", "Pl-s3cret", ""), myServerID()),
			"mysql privileges of plain: missing REPLICATION SLAVE, BINLOG MONITOR",
			"fix: GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'plain'@'<host>'")
		if strings.Contains(out, "Pl-s3cret") {
			t.Errorf("the password appears in the output")
		}
	})

	t.Run("own_server_id", func(t *testing.T) {
		runRefused(t, cfg(root, 1), "source.mysql.server_id: 1 is the server's own server_id")
	})

	t.Run("bad_dsn", func(t *testing.T) {
		code, out := harness.Run(t, 60*time.Second, nil, "run", "-c",
			harness.WriteConfig(t, cfg("mysql://u:Dsn-s3cret@127.0.0.1:notaport/", myServerID())))
		if code != 2 || !strings.Contains(out, "source.dsn") || strings.Contains(out, "Dsn-s3cret") {
			t.Errorf("exit code %d, want 2 with source.dsn named and no password; output:\n%s", code, out)
		}
		logRefusal(t, out)
	})

	// A rows event whose TABLE_MAP has no column names stops the pipeline
	// (it is not skipped) and the checkpoint stays before it.
	t.Run("metadata_minimal_while_streaming", func(t *testing.T) {
		c := cfg(root, myServerID())
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, strings.Replace(c, "name: "+name, "name: "+name+"_meta", 1)))
		bg := context.Background()
		p.WaitFor(bg, "msg=streaming", 90*time.Second)
		myExec(t, db, "INSERT INTO t VALUES (1, 1)")
		myExec(t, db, "SET GLOBAL binlog_row_metadata = 'MINIMAL'")
		defer myExec(t, db, "SET GLOBAL binlog_row_metadata = 'FULL'")
		myExec(t, db, "INSERT INTO t VALUES (2, 2)")
		if code := p.Wait(90 * time.Second); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		out := p.Output()
		if !strings.Contains(out, "TABLE_MAP event has no column names (binlog_row_metadata is not FULL); fix: SET GLOBAL binlog_row_metadata = 'FULL'") ||
			strings.Contains(out, "restarting") {
			t.Errorf("output lacks the metadata error and its fix, or the pipeline restarted:\n%s", out)
		}
		logRefusal(t, out)
	})

	// A checkpoint from another server, a purged binlog and a reset binlog
	// are refused: Sluice never resumes past a gap.
	t.Run("gaps", func(t *testing.T) {
		c := harness.WriteConfig(t, cfg(root, myServerID()))
		p := harness.Start(t, nil, "run", "-c", c)
		bg := context.Background()
		p.WaitFor(bg, "msg=streaming", 90*time.Second)
		myExec(t, db, "INSERT INTO t VALUES (10, 10)")
		myWaitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)
		if code := p.Interrupt(60 * time.Second); code != 0 {
			t.Fatalf("graceful stop exit code %d", code)
		}
		good := storedCheckpoint(t, k.Brokers(), name)
		write := func(cp checkpoint.Checkpoint) {
			t.Helper()
			storeCheckpoint(t, k.Brokers(), name, &cp)
		}
		// Another server, whose GTIDs this one lacks: a failover that
		// cannot be followed (TestMySQLFailover follows one that can).
		other := *good
		other.ServerID = "mariadb:99:0"
		other.Position.GTIDSet = "0-99-1000000"
		write(other)
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", c)
		if code != 1 || !strings.Contains(out, "the checkpoint belongs to server mariadb:99:0 but source.dsn reaches server mariadb:1:0") ||
			!strings.Contains(out, "missing domain 0: checkpoint at 0-99-1000000") {
			t.Errorf("other server: exit %d, output:\n%s", code, out)
		}
		logRefusal(t, out)

		// Purge the checkpoint's binlog file, with changes after it.
		write(*good)
		myExec(t, db, "INSERT INTO t VALUES (11, 11)")
		myExec(t, db, "FLUSH BINARY LOGS")
		myExec(t, db, "INSERT INTO t VALUES (12, 12)")
		// MariaDB keeps a binlog until its binlog checkpoint passed it, so
		// PURGE may need a few rounds.
		purged := false
		for range 40 {
			myExec(t, db, "FLUSH BINARY LOGS")
			var logs []string
			rows, err := db.QueryContext(bg, "SHOW BINARY LOGS")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n string
				var size any
				if err := rows.Scan(&n, &size); err != nil {
					t.Fatal(err)
				}
				logs = append(logs, n)
			}
			rows.Close()
			if logs[0] > good.Position.File {
				purged = true
				break
			}
			myExec(t, db, "PURGE BINARY LOGS TO '"+logs[len(logs)-1]+"'")
			time.Sleep(250 * time.Millisecond)
		}
		if !purged {
			t.Fatalf("setup: binlog %s not purged", good.Position.File)
		}
		code, out = harness.Run(t, 120*time.Second, nil, "run", "-c", c)
		if code != 1 || !strings.Contains(out, "binlog file "+good.Position.File+" was purged") || !strings.Contains(out, "will not resume past a gap") {
			t.Errorf("purged binlog: exit %d, output:\n%s", code, out)
		}
		logRefusal(t, out)

		// RESET MASTER: the server's GTID position goes back to nothing.
		myExec(t, db, "RESET MASTER")
		myExec(t, db, "INSERT INTO t VALUES (13, 13)")
		fresh := *good
		fresh.Position.File = "mysql-bin.000001"
		fresh.Position.Pos = 4
		write(fresh)
		code, out = harness.Run(t, 120*time.Second, nil, "run", "-c", c)
		if code != 1 || !strings.Contains(out, "is behind the checkpoint") || !strings.Contains(out, "reset or rewound") {
			t.Errorf("reset binlog: exit %d, output:\n%s", code, out)
		}
		logRefusal(t, out)
	})
}
