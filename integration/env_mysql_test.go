package integration

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	"github.com/sluicecdc/sluice/integration/testenv"
	"github.com/sluicecdc/sluice/schema"
)

// The MariaDB server shared by the MySQL tests, started on first use like
// sharedPostgres. Each test gets its own database, connector name and
// replica server_id.
var sharedMy struct {
	mu sync.Mutex
	db *testenv.MariaDB
}

func sharedMariaDB(t testing.TB) *testenv.MariaDB {
	t.Helper()
	sharedMy.mu.Lock()
	defer sharedMy.mu.Unlock()
	if sharedMy.db == nil {
		ctx, cancel := startCtx()
		defer cancel()
		m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sharedMy.db = m
		shared.mu.Lock()
		shared.stops = append(shared.stops, m.Stop)
		shared.mu.Unlock()
	}
	return sharedMy.db
}

// myServerIDs hands out replica server_ids unique in the test binary (the
// server itself is server_id 1).
var myServerIDs atomic.Uint32

func myServerID() uint32 { return 5000 + myServerIDs.Add(1) }

// myDB creates a fresh database for the test and returns its name and a
// root connection pool to it (one connection, so session settings stick).
func myDB(t testing.TB, m myServer) (string, *sql.DB) {
	t.Helper()
	name := testName(t)
	admin := myOpen(t, m, "")
	defer admin.Close()
	myExec(t, admin, "DROP DATABASE IF EXISTS `"+name+"`")
	myExec(t, admin, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	db := myOpen(t, m, name)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return name, db
}

func myOpen(t testing.TB, m myServer, dbname string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(m.GoSQLDSN("root", myRootPassword(m), dbname))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	if _, ok := m.(*testenv.MySQL); ok {
		cfg.Params["cte_max_recursion_depth"] = "100000000" // mySeq
	}
	cfg.MultiStatements = true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func myExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%.300s: %v", q, err)
	}
}

// myConfig returns a Sluice configuration for a MariaDB or MySQL source capturing
// the database db.
func myConfig(name, dsn, db string, serverID uint32, k *testenv.Kafka, r *testenv.Registry, extra string) string {
	return fmt.Sprintf(`name: %s
log: {level: debug}
source:
  type: mysql
  dsn: %q
  tables: [%s.*]
  mysql: {server_id: %d, heartbeat_interval: 1s}
kafka:
  brokers: [%s]
schema_registry:
  url: %s
http:
  listen: ""
checkpoint:
  interval: 200ms
%s`, name, dsn, db, serverID, strings.Join(k.Brokers(), ","), r.URL, extra)
}

// myWaitCaughtUp waits until the checkpoint stored in Kafka has reached
// the server's current binlog position.
func myWaitCaughtUp(t testing.TB, db *sql.DB, brokers []string, name string, timeout time.Duration) {
	t.Helper()
	file, pos := myHead(t, db)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cp := storedCheckpoint(t, brokers, name)
		if cp != nil && (cp.Position.File > file || cp.Position.File == file && cp.Position.Pos >= pos) {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("checkpoint did not reach %s:%d within %s (last %v)", file, pos, timeout, storedCheckpoint(t, brokers, name))
}

// mySignalGrant creates Sluice's signal table (source.mysql.signal_table's
// default) as root and lets user write it, as docs/mysql.md tells an
// administrator to do for a user that may not create it.
func mySignalGrant(t testing.TB, root *sql.DB, user string) {
	t.Helper()
	for _, q := range mycapture.SignalTableDDL(schema.TableID{Namespace: "sluice", Name: "sluice_signal"}) {
		myExec(t, root, q)
	}
	myExec(t, root, fmt.Sprintf("GRANT SELECT, INSERT, DELETE ON `sluice`.`sluice_signal` TO '%s'@'%%'", user))
}
