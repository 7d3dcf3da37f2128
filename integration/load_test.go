package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// loadStats counts what a load did; the shared kill-loop and fault tests
// read it for either source.
type loadStats struct {
	nextID  atomic.Int64 // the next id to insert
	txns    atomic.Int64
	changes atomic.Int64
}

// pgLoad is a mixed multi-table transactional load: transactions of 1 to
// maxTxn inserted rows, each also updating and deleting some existing rows
// of another table. Ids are unique across tables.
type pgLoad struct {
	loadStats
	tables []string
	rows   int64 // inserted rows to reach
	maxTxn int
	// pause between transactions spreads the load over time, so that
	// faults and kills fall inside it rather than after it.
	pause time.Duration
}

func newPgLoad(t testing.TB, db *pgx.Conn, tables []string, rows int64, maxTxn int) *pgLoad {
	t.Helper()
	for _, tb := range tables {
		exec(t, db, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, v bigint NOT NULL, pad text)`, tb))
	}
	l := &pgLoad{tables: tables, rows: rows, maxTxn: maxTxn}
	l.nextID.Store(1)
	return l
}

// run executes the load until rows are inserted or ctx ends.
func (l *pgLoad) run(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
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
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		ct, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id, v, pad) SELECT g, 0, md5(g::text) FROM generate_series($1::bigint, $2::bigint) g`, tb), first, last)
		if err != nil {
			return err
		}
		changes := ct.RowsAffected()
		if first > 1 {
			lo := rng.Int64N(first)
			ct, err = tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET v = v + 1 WHERE id BETWEEN $1 AND $2`, other), lo, lo+n/10)
			if err != nil {
				return err
			}
			changes += ct.RowsAffected()
			lo = rng.Int64N(first)
			ct, err = tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id BETWEEN $1 AND $2`, other), lo, lo+n/20)
			if err != nil {
				return err
			}
			changes += ct.RowsAffected()
		}
		if err := tx.Commit(ctx); err != nil {
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

// finalState returns table topic suffix -> id -> v for every row.
func finalState(t testing.TB, db *pgx.Conn, tables []string) map[string]map[int64]int64 {
	t.Helper()
	out := map[string]map[int64]int64{}
	for _, tb := range tables {
		rows, err := db.Query(context.Background(), fmt.Sprintf(`SELECT id, v FROM %s`, tb))
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

// compareFinal checks that the last event per key in Kafka equals the
// source's final row (or a delete for a row that is gone). It returns the
// number of keys that differ.
func compareFinal(t testing.TB, evs []harness.Event, prefix string, want map[string]map[int64]int64) int {
	t.Helper()
	last := map[string]map[int64]*harness.Event{}
	for i := range evs {
		e := &evs[i]
		if e.Value == nil {
			continue // tombstones follow their delete
		}
		tb := e.Topic[len(prefix):]
		if last[tb] == nil {
			last[tb] = map[int64]*harness.Event{}
		}
		last[tb][harness.Int(e.Key, "id")] = e
	}
	bad := 0
	report := func(format string, a ...any) {
		if bad < 10 {
			t.Errorf(format, a...)
		}
		bad++
	}
	for tb, rows := range want {
		for id, v := range rows {
			e := last[tb][id]
			switch {
			case e == nil:
				report("%s id %d: no event in Kafka", tb, id)
			case e.Op() == "d":
				report("%s id %d: last event is a delete but the row exists", tb, id)
			case harness.Int(e.After(), "v") != v:
				report("%s id %d: last event has v=%d, source has %d", tb, id, harness.Int(e.After(), "v"), v)
			}
		}
		for id, e := range last[tb] {
			if _, ok := rows[id]; !ok && e.Op() != "d" {
				report("%s id %d: deleted in the source but last event is %q", tb, id, e.Op())
			}
		}
	}
	return bad
}

// waitCaughtUp waits until the stored checkpoint reaches the source's
// current WAL position.
func waitCaughtUp(t testing.TB, db *pgx.Conn, brokers []string, name string, timeout time.Duration) {
	t.Helper()
	var walEnd string
	if err := db.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&walEnd); err != nil {
		t.Fatal(err)
	}
	end, _ := checkpoint.ParseLSN(walEnd)
	deadline := time.Now().Add(timeout)
	for {
		cp := storedCheckpoint(t, brokers, name)
		if cp != nil && cp.Position.LSN >= end {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %v did not reach the source WAL position %s within %s", cp, walEnd, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// slotFlush returns the slot's confirmed_flush_lsn.
func slotFlush(ctx context.Context, db *pgx.Conn, slot string) (checkpoint.LSN, bool) {
	var s *string
	if err := db.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&s); err != nil || s == nil {
		return 0, false
	}
	l, err := checkpoint.ParseLSN(*s)
	return l, err == nil
}
