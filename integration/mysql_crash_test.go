package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// myLoad is a mixed multi-table transactional load: transactions of 1 to
// maxTxn inserted rows, each also updating and deleting some existing rows
// of another table. Ids are unique across tables.
type myLoad struct {
	loadStats
	tables []string
	rows   int64
	maxTxn int
	// mariadb: the server's flavor (mySeqOf).
	mariadb bool
	// gtidNext, when set, gives the gtid_next of the n-th transaction
	// (MySQL: "AUTOMATIC", or "AUTOMATIC:tag" for a tagged GTID).
	gtidNext func(n int64) string
	// pause between transactions spreads the load over time (MariaDB
	// writes it faster than a fault test can inject its faults).
	pause time.Duration
}

func newMyLoad(t testing.TB, db *sql.DB, tables []string, rows int64, maxTxn int) *myLoad {
	t.Helper()
	for _, tb := range tables {
		myExec(t, db, fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, v bigint NOT NULL, pad varchar(64))", tb))
	}
	l := &myLoad{tables: tables, rows: rows, maxTxn: maxTxn, mariadb: myFlavorMariaDB(t, db)}
	l.nextID.Store(1)
	return l
}

// run executes the load until rows are inserted or ctx ends. Rows come
// from mySeq.
func (l *myLoad) run(ctx context.Context, db *sql.DB) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for l.nextID.Load() <= l.rows {
		if ctx.Err() != nil {
			return nil
		}
		n := int64(1 + rng.IntN(l.maxTxn))
		first := l.nextID.Load()
		last := min(first+n-1, l.rows)
		tb := l.tables[rng.IntN(len(l.tables))]
		other := l.tables[rng.IntN(len(l.tables))]
		if l.gtidNext != nil {
			// db has one connection: the transaction below runs on it.
			if _, err := db.ExecContext(ctx, "SET gtid_next = '"+l.gtidNext(l.txns.Load())+"'"); err != nil {
				return err
			}
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (id, v, pad) SELECT seq, 0, "+myPad+" FROM %s", tb, mySeqOf(l.mariadb, first, last, 1)))
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		changes, _ := res.RowsAffected()
		if first > 1 {
			lo := rng.Int64N(first)
			res, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id BETWEEN ? AND ?", other), lo, lo+n/10)
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			c, _ := res.RowsAffected()
			changes += c
			lo = rng.Int64N(first)
			res, err = tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE id BETWEEN ? AND ?", other), lo, lo+n/20)
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			c, _ = res.RowsAffected()
			changes += c
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		l.nextID.Store(last + 1)
		l.txns.Add(1)
		l.changes.Add(changes)
		if l.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(l.pause):
			}
		}
	}
	return nil
}

func myFinalState(t testing.TB, db *sql.DB, tables []string) map[string]map[int64]int64 {
	t.Helper()
	out := map[string]map[int64]int64{}
	for _, tb := range tables {
		rows, err := db.QueryContext(context.Background(), "SELECT id, v FROM "+tb)
		if err != nil {
			t.Fatal(err)
		}
		m := map[int64]int64{}
		for rows.Next() {
			var id, v int64
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			m[id] = v
		}
		rows.Close()
		out[tb] = m
	}
	return out
}

// TestMySQLCrash kills sluice with SIGKILL in the middle of a 100k-row
// multi-table transactional load on MariaDB, restarts it, and compares what
// arrived in Kafka with the source: nothing missing, per-key order kept
// (by binlog file, position and row), the final state equal, duplicates
// only in at-least-once mode.
func TestMySQLCrash(t *testing.T) {
	for _, mode := range []struct {
		name string
		eos  bool
	}{{"at_least_once", false}, {"exactly_once", true}} {
		t.Run(mode.name, func(t *testing.T) { testMySQLCrash(t, mode.eos) })
	}
}

func testMySQLCrash(t *testing.T, eos bool) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	tables := []string{"t1", "t2", "t3"}
	load := newMyLoad(t, db, tables, 100_000, 1000)
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	env := []string{fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", eos)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	loadDB := myOpen(t, m, dbname)
	defer loadDB.Close()
	loadDB.SetMaxOpenConns(1)
	loadErr := make(chan error, 1)
	go func() { loadErr <- load.run(ctx, loadDB) }()

	// Kill in the middle of the load.
	for load.nextID.Load() < 30_000 {
		select {
		case err := <-loadErr:
			t.Fatalf("load ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.Kill()
	killedAt := load.nextID.Load()
	cpAtKill := storedCheckpoint(t, k.Brokers(), name)
	p2 := harness.Start(t, env, "run", "-c", cfg)
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	myWaitCaughtUp(t, db, k.Brokers(), name, 180*time.Second)

	topics := make([]string, len(tables))
	for i, tb := range tables {
		topics[i] = name + "." + dbname + "." + tb
	}
	want := myFinalState(t, db, tables)
	rd := harness.NewReader(t, k.Brokers(), r.URL, topics...)
	evs := rd.Quiet(context.Background(), t, 3*time.Second)
	rep := harness.Check(evs, nil)
	bad := compareFinal(t, evs, name+"."+dbname+".", want)
	var cpPos any
	if cpAtKill != nil {
		cpPos = cpAtKill.Position
	}
	t.Logf("figures: mode_exactly_once=%v txns=%d source_changes=%d killed_at_row=%d checkpoint_at_kill=%v %s final_state_mismatches=%d",
		eos, load.txns.Load(), load.changes.Load(), killedAt, cpPos, rep, bad)
	if rep.OrderViolations != 0 {
		t.Errorf("%d per-key order violations", rep.OrderViolations)
	}
	if eos && rep.Duplicates != 0 {
		t.Errorf("exactly-once: %d duplicated events", rep.Duplicates)
	}
	if rep.Events < int(load.changes.Load()) {
		t.Errorf("Kafka holds %d change events, the source made %d changes", rep.Events, load.changes.Load())
	}
	if eos && rep.Events != int(load.changes.Load()) {
		t.Errorf("exactly-once: Kafka holds %d change events, the source made %d changes", rep.Events, load.changes.Load())
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
