package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// The MySQL-protocol servers the core suite runs on. MariaDB 10.11 is the
// default server, where every MySQL-source test runs; each other server
// here runs the core suite (type matrix, streaming, snapshot-to-stream
// handoff, DDL, a kill loop) with small row counts. A subtest's name is
// the server and its version, so a failure names the version.
//
// MySQL 9 runs beside MariaDB 10.11 in every run; the servers of
// myMatrixServers run alone, one per run of the core suite, when
// SLUICE_TEST_MYSQL names them (integration/matrix does).
type myServerCase struct {
	name string // subtest name: "mariadb", "mysql-9.7.4"
	// mariadb tells the flavor: MariaDB, or MySQL.
	mariadb bool
	// core is true for a server that runs the core suite only (smaller
	// loads than the default server's).
	core bool
	// series is the install (testenv.MySQLOptions.Series,
	// testenv.MariaDBOptions.Series) of a server other than the default.
	series string
	get    func(t testing.TB) myServer
}

// myServer is what the tests use of a MariaDB or MySQL server.
type myServer interface {
	Addr() string
	DSN(user, pass, db string) string
	RootDSN(db string) string
	GoSQLDSN(user, pass, db string) string
}

// myMySQLSeries lists the MySQL installs (scripts/install-mysql.sh) that
// run beside MariaDB 10.11.
var myMySQLSeries = []string{"9"}

// myMatrixServers are the servers that SLUICE_TEST_MYSQL chooses, each an
// install of scripts/install-mysql.sh: flavor-series.
var myMatrixServers = []string{"mysql-8.0", "mariadb-11.8"}

func myServers() []myServerCase {
	if v := os.Getenv(envMySQL); v != "" {
		return []myServerCase{myMatrixServer(v)}
	}
	out := []myServerCase{{name: "mariadb", mariadb: true, get: func(t testing.TB) myServer { return sharedMariaDB(t) }}}
	for _, series := range myMySQLSeries {
		out = append(out, myMySQLCase(series))
	}
	return out
}

func myMySQLCase(series string) myServerCase {
	name := "mysql-" + series
	if v, err := testenv.MySQLVersion(series); err == nil {
		name = "mysql-" + v
	}
	return myServerCase{name: name, core: true, series: series, get: func(t testing.TB) myServer { return sharedMySQL(t, series) }}
}

// myMatrixServer is the server v (one of myMatrixServers) names. A name
// not in the list makes every MySQL-source test fail with the list.
func myMatrixServer(v string) myServerCase {
	flavor, series, _ := strings.Cut(v, "-")
	switch {
	case !slices.Contains(myMatrixServers, v):
		return myServerCase{name: v, get: func(t testing.TB) myServer {
			t.Fatalf("%s=%q: want one of %v", envMySQL, v, myMatrixServers)
			return nil
		}}
	case flavor == "mysql":
		return myMySQLCase(series)
	}
	name := v
	if version, err := testenv.MariaDBVersion(series); err == nil {
		name = "mariadb-" + version
	}
	return myServerCase{name: name, mariadb: true, core: true, series: series,
		get: func(t testing.TB) myServer { return sharedMariaDBSeries(t, series) }}
}

// forMyServers runs f as a subtest on each server of the matrix.
func forMyServers(t *testing.T, f func(t *testing.T, sc myServerCase, m myServer)) {
	for _, sc := range myServers() {
		t.Run(sc.name, func(t *testing.T) { f(t, sc, sc.get(t)) })
	}
}

// forMySQLServers runs f as a subtest for each MySQL (not MariaDB) of the
// matrix, for what only MySQL has; f starts what servers it needs.
func forMySQLServers(t *testing.T, f func(t *testing.T, sc myServerCase)) {
	for _, sc := range myServers() {
		if !sc.mariadb {
			t.Run(sc.name, func(t *testing.T) { f(t, sc) })
		}
	}
}

var sharedMySQLs struct {
	mu  sync.Mutex
	srv map[string]*testenv.MySQL
}

// sharedMySQL is the MySQL server of series, started on first use and
// shared like sharedMariaDB.
func sharedMySQL(t testing.TB, series string) *testenv.MySQL {
	t.Helper()
	sharedMySQLs.mu.Lock()
	defer sharedMySQLs.mu.Unlock()
	if m := sharedMySQLs.srv[series]; m != nil {
		return m
	}
	ctx, cancel := startCtx()
	defer cancel()
	m, err := testenv.StartMySQL(ctx, testenv.MySQLOptions{Series: series})
	if err != nil {
		t.Fatal(err)
	}
	if sharedMySQLs.srv == nil {
		sharedMySQLs.srv = map[string]*testenv.MySQL{}
	}
	sharedMySQLs.srv[series] = m
	shared.mu.Lock()
	shared.stops = append(shared.stops, m.Stop)
	shared.mu.Unlock()
	return m
}

var sharedMariaDBs struct {
	mu  sync.Mutex
	srv map[string]*testenv.MariaDB
}

// sharedMariaDBSeries is the MariaDB server of series (an install of
// scripts/install-mysql.sh), started on first use and shared like
// sharedMariaDB.
func sharedMariaDBSeries(t testing.TB, series string) *testenv.MariaDB {
	t.Helper()
	sharedMariaDBs.mu.Lock()
	defer sharedMariaDBs.mu.Unlock()
	if m := sharedMariaDBs.srv[series]; m != nil {
		return m
	}
	ctx, cancel := startCtx()
	defer cancel()
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{Series: series})
	if err != nil {
		t.Fatal(err)
	}
	if sharedMariaDBs.srv == nil {
		sharedMariaDBs.srv = map[string]*testenv.MariaDB{}
	}
	sharedMariaDBs.srv[series] = m
	shared.mu.Lock()
	shared.stops = append(shared.stops, m.Stop)
	shared.mu.Unlock()
	return m
}

// myRootPassword is root's password on m.
func myRootPassword(m myServer) string {
	if _, ok := m.(*testenv.MySQL); ok {
		return testenv.MySQLRootPassword
	}
	return testenv.MariaDBRootPassword
}

// myIsMariaDB caches, per connection pool, whether the server is MariaDB.
var myIsMariaDB sync.Map // *sql.DB -> bool

func myFlavorMariaDB(t testing.TB, db *sql.DB) bool {
	t.Helper()
	if v, ok := myIsMariaDB.Load(db); ok {
		return v.(bool)
	}
	var version string
	if err := db.QueryRowContext(context.Background(), "SELECT @@version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	maria := strings.Contains(strings.ToLower(version), "mariadb")
	myIsMariaDB.Store(db, maria)
	return maria
}

// mySeq returns a table expression of one column, seq, holding from, from+step,
// ... up to to: MariaDB's sequence engine, or a recursive common table
// expression on MySQL (myOpen raises cte_max_recursion_depth there).
func mySeq(t testing.TB, db *sql.DB, from, to, step int64) string {
	t.Helper()
	return mySeqOf(myFlavorMariaDB(t, db), from, to, step)
}

func mySeqOf(mariadb bool, from, to, step int64) string {
	if mariadb {
		if step == 1 {
			return fmt.Sprintf("seq_%d_to_%d", from, to)
		}
		return fmt.Sprintf("seq_%d_to_%d_step_%d", from, to, step)
	}
	return fmt.Sprintf("(WITH RECURSIVE s (seq) AS (SELECT CAST(%d AS SIGNED) UNION ALL SELECT seq + %d FROM s WHERE seq + %d <= %d) SELECT seq FROM s) AS seqs",
		from, step, step, to)
}

// myHead returns the server's binlog file and position: SHOW MASTER STATUS,
// or SHOW BINARY LOG STATUS where the server has it (MySQL 8.2+; 8.4 drops
// the former).
func myHead(t testing.TB, db *sql.DB) (string, uint32) {
	t.Helper()
	q := "SHOW MASTER STATUS"
	if !myFlavorMariaDB(t, db) {
		q = "SHOW BINARY LOG STATUS"
	}
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil && q != "SHOW MASTER STATUS" {
		q = "SHOW MASTER STATUS" // MySQL before 8.2
		rows, err = db.QueryContext(context.Background(), q)
	}
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("%s returned no row (%v)", q, rows.Err())
	}
	vals := make([]any, len(cols))
	var file string
	var pos uint32
	vals[0], vals[1] = &file, &pos
	for i := 2; i < len(vals); i++ {
		vals[i] = new(sql.RawBytes)
	}
	if err := rows.Scan(vals...); err != nil {
		t.Fatal(err)
	}
	return file, pos
}

// grepLines returns the lines of out that contain s.
func grepLines(out, s string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// myPad is a filler value computed from seq that MariaDB and MySQL both
// have (MySQL 9 has no MD5).
const myPad = "LEFT(SHA2(seq, 256), 32)"
