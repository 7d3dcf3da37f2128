package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLSnapshotKills is TestPostgresSnapshotKills on MariaDB: Sluice is
// killed (-9) ten times at random moments during the chunked snapshot of
// two tables, under concurrent inserts, updates and deletes, in both
// delivery modes. Every row arrives, the final state per key equals the
// tables, no snapshot row comes after a newer change of its key,
// exactly-once delivers nothing twice, and after each kill at most one
// chunk per table being read is read again.
func TestMySQLSnapshotKills(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	for _, mode := range []struct {
		name string
		eos  bool
	}{{"exactly_once", true}, {"at_least_once", false}} {
		t.Run(mode.name, func(t *testing.T) { testMySQLSnapshotKills(t, mode.eos) })
	}
}

func testMySQLSnapshotKills(t *testing.T, eos bool) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	tables := []string{"s1", "s2"}
	killPreload := int64(20_000)
	if !eos {
		killPreload = 60_000
	}
	for _, tb := range tables {
		myExec(t, db, fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, v bigint NOT NULL, pad varchar(40))", tb))
		myExec(t, db, fmt.Sprintf("INSERT INTO %s SELECT seq, 0, MD5(seq) FROM seq_1_to_%d", tb, killPreload))
		// An estimate (TABLE_ROWS), so that the table is read in key
		// ranges [S10].
		myExec(t, db, "ANALYZE TABLE "+tb)
	}
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r,
		fmt.Sprintf("snapshot: {chunk_size: %d, parallelism: %d}\n", killChunk, killParallelism)))
	env := []string{fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", eos)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Concurrent changes: updates (v+1) and deletes of existing rows,
	// inserts of new ones, in small transactions.
	var changes atomic.Int64
	// The load stops between transactions: a statement cancelled in
	// flight may still commit after the final state is read.
	var stopLoad atomic.Bool
	loadDone := make(chan error, 1)
	go func() {
		w := myOpen(t, m, dbname)
		defer w.Close()
		rng := rand.New(rand.NewPCG(3, 4))
		next := int64(1_000_000)
		for !stopLoad.Load() {
			tb := tables[rng.IntN(len(tables))]
			lo := 1 + rng.Int64N(killPreload)
			err := myTxn(context.Background(), w,
				fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id BETWEEN %d AND %d", tb, lo, lo+20),
				fmt.Sprintf("DELETE FROM %s WHERE id = %d", tb, 1+rng.Int64N(killPreload)),
				fmt.Sprintf("INSERT INTO %s VALUES (%d, 0, 'new'), (%d, 0, 'new')", tb, next, next+1))
			if err != nil {
				loadDone <- err
				return
			}
			next += 2
			changes.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
		loadDone <- nil
	}()

	outputs, p := killDuringSnapshot(ctx, t, env, cfg, len(tables))
	stopLoad.Store(true)
	cancel()
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	myWaitCaughtUp(t, db, k.Brokers(), name, 2*time.Minute)
	checkSnapshotKills(t, k.Brokers(), r.URL, name+"."+dbname+".", tables, myFinalState(t, db, tables), outputs, eos, changes.Load())
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}

// myTxn runs statements in one transaction.
func myTxn(ctx context.Context, db *sql.DB, stmts ...string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}
