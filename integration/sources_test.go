package integration

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// sourceDB is a source database under a load, as the kill-loop and fault
// tests that run against both sources see it. Its tables are the load's:
// (id bigint PRIMARY KEY, v bigint NOT NULL, pad).
type sourceDB interface {
	// sourceYAML is the configuration's source section (indented under
	// "source:") for a Sluice that reaches the database at dsn, maybe
	// through a proxy.
	sourceYAML(dsn string) string
	// prefix is the topic prefix of the captured tables of connector name.
	prefix(name string) string
	// preload inserts the rows 1..n into table in one statement.
	preload(t testing.TB, table string, n int64)
	// head is the end of the source's change log now.
	head(t testing.TB) harness.Pos
	// checkpointPos is where a checkpoint stands, comparable with head and
	// with the positions of events (the zero Pos when cp is nil).
	checkpointPos(cp *checkpoint.Checkpoint) harness.Pos
	// waitCaughtUp waits until the checkpoint stored in Kafka reaches head.
	waitCaughtUp(t testing.TB, brokers []string, name string, timeout time.Duration)
	// finalState returns table -> id -> v for every row.
	finalState(t testing.TB, tables []string) map[string]map[int64]int64
}

// pgSource is a Postgres database; db is the test's own connection.
type pgSource struct{ db *pgx.Conn }

func (s *pgSource) sourceYAML(dsn string) string {
	return fmt.Sprintf(`  type: postgres
  dsn: %q
  postgres: {heartbeat_interval: 1s, status_interval: 1s}
`, dsn)
}

func (s *pgSource) prefix(name string) string { return name + ".public." }

func (s *pgSource) preload(t testing.TB, table string, n int64) {
	exec(t, s.db, fmt.Sprintf(`INSERT INTO %s SELECT g, 0, md5(g::text) FROM generate_series(1, %d) g`, table, n))
}

func (s *pgSource) head(t testing.TB) harness.Pos {
	t.Helper()
	var wal string
	if err := s.db.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	l, err := checkpoint.ParseLSN(wal)
	if err != nil {
		t.Fatal(err)
	}
	return harness.Pos{A: int64(l)}
}

func (s *pgSource) checkpointPos(cp *checkpoint.Checkpoint) harness.Pos {
	if cp == nil {
		return harness.Pos{}
	}
	return harness.Pos{A: int64(cp.Position.LSN)}
}

func (s *pgSource) waitCaughtUp(t testing.TB, brokers []string, name string, timeout time.Duration) {
	t.Helper()
	waitCaughtUp(t, s.db, brokers, name, timeout)
}

func (s *pgSource) finalState(t testing.TB, tables []string) map[string]map[int64]int64 {
	t.Helper()
	return finalState(t, s.db, tables)
}

// mySource is a MariaDB/MySQL database; db is the test's own connection
// pool to it.
type mySource struct {
	db       *sql.DB
	dbname   string
	serverID uint32
}

func (s *mySource) sourceYAML(dsn string) string {
	return fmt.Sprintf(`  type: mysql
  dsn: %q
  tables: [%s.*]
  mysql: {server_id: %d, heartbeat_interval: 1s}
`, dsn, s.dbname, s.serverID)
}

func (s *mySource) prefix(name string) string { return name + "." + s.dbname + "." }

func (s *mySource) preload(t testing.TB, table string, n int64) {
	myExec(t, s.db, fmt.Sprintf("INSERT INTO %s (id, v, pad) SELECT seq, 0, "+myPad+" FROM %s", table, mySeq(t, s.db, 1, n, 1)))
}

func (s *mySource) head(t testing.TB) harness.Pos {
	t.Helper()
	file, pos := myHead(t, s.db)
	return harness.Pos{File: file, A: int64(pos)}
}

func (s *mySource) checkpointPos(cp *checkpoint.Checkpoint) harness.Pos {
	if cp == nil {
		return harness.Pos{}
	}
	return harness.Pos{File: cp.Position.File, A: int64(cp.Position.Pos)}
}

func (s *mySource) waitCaughtUp(t testing.TB, brokers []string, name string, timeout time.Duration) {
	t.Helper()
	myWaitCaughtUp(t, s.db, brokers, name, timeout)
}

func (s *mySource) finalState(t testing.TB, tables []string) map[string]map[int64]int64 {
	t.Helper()
	return myFinalState(t, s.db, tables)
}
