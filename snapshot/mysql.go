package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicecdc/sluice/capture"
	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// MySQLResult is where a MySQL snapshot was taken: streaming starts after
// Position, and Tables are the versions it read.
type MySQLResult struct {
	Position checkpoint.Position
	Tables   []*schema.Table
	// Parallel is the number of connections that read tables.
	Parallel int
}

// MySQL reads every table in tables consistently with one binlog position,
// and hands the rows to h as op "r" events, then returns that position:
// streaming from it neither misses nor repeats a change.
//
// Consistency. Each reading connection opens a REPEATABLE READ snapshot
// (START TRANSACTION WITH CONSISTENT SNAPSHOT). Several connections see the
// same data only if no transaction commits while they open their
// snapshots, so with more than one connection a separate connection holds
// FLUSH TABLES WITH READ LOCK for that moment (milliseconds, but it waits
// for running statements; lock_wait_timeout bounds the wait to 10s), and
// the position is read under the lock. MariaDB reports each snapshot's own
// binlog position (binlog_snapshot_file/position), and the connections'
// positions are checked to be equal. Without the RELOAD privilege, or when
// the lock cannot be had in time, MariaDB reads all tables on one
// connection, whose snapshot and position need no lock at all; MySQL has
// no per-snapshot position and needs the lock even for one connection.
func MySQL(ctx context.Context, src *mycapture.Source, tables []schema.TableID, h capture.Handler, o Options) (*MySQLResult, error) {
	o = o.withDefaults()
	log := o.Logger
	srv := src.Server()
	db := src.DB()
	n := max(1, min(o.Parallelism, len(tables)))

	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = c.ExecContext(cctx, "ROLLBACK")
			cancel()
			c.Close()
		}
	}()
	pos, conns, err := openSnapshots(ctx, db, srv, n, log)
	if err != nil {
		return nil, err
	}
	n = len(conns)

	described := make([]*schema.Table, len(tables))
	prog := o.Progress
	if prog == nil {
		prog = &Progress{}
	}
	tps := make([]*TableProgress, len(tables))
	for i, id := range tables {
		t, err := mycapture.Describe(ctx, conns[0], id)
		if err != nil {
			return nil, err
		}
		described[i] = t
		tps[i] = &TableProgress{ID: id}
		var est sql.NullInt64
		_ = conns[0].QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			id.Namespace, id.Name).Scan(&est)
		tps[i].Total = max(est.Int64, 0)
	}
	prog.set(tps)
	for _, t := range described {
		if err := h.SchemaChange(ctx, &capture.SchemaChange{Table: t, Database: t.ID.Namespace, Position: pos, TsMs: time.Now().UnixMilli()}); err != nil {
			return nil, err
		}
	}
	log.Info("snapshot started", "tables", len(tables), "connections", n, "position", pos.String())
	start := time.Now()

	ts := time.Now().UnixMilli()
	err = readAndEmit(ctx, conns, described, wholeTables(len(described)), tps, readMySQLTable, h, pos, func(t *schema.Table, mark string) capture.SourceInfo {
		return capture.SourceInfo{TsMs: ts, Snapshot: mark, DB: t.ID.Namespace, ServerID: int64(srv.ServerID),
			File: pos.File, Pos: int64(pos.Pos)}
	}, o, prog, log, start)
	if err != nil {
		return nil, err
	}
	return &MySQLResult{Position: pos, Tables: described, Parallel: n}, nil
}

// openSnapshots opens n consistent snapshots at one binlog position (fewer
// on MariaDB when the lock is not available) and returns the position and
// the connections, each inside its snapshot transaction.
func openSnapshots(ctx context.Context, db *sql.DB, srv *mycapture.Server, n int, log *slog.Logger) (checkpoint.Position, []*sql.Conn, error) {
	var pos checkpoint.Position
	var conns []*sql.Conn
	fail := func(err error) (checkpoint.Position, []*sql.Conn, error) {
		for _, c := range conns {
			c.Close()
		}
		return pos, nil, err
	}
	begin := func() (*sql.Conn, error) {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("snapshot: connecting: %w", err)
		}
		for _, q := range []string{
			"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
			"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
		} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				c.Close()
				return nil, fmt.Errorf("snapshot: %s: %w", q, err)
			}
		}
		return c, nil
	}
	mariadb := srv.Flavor == mycapture.FlavorMariaDB
	if mariadb && n == 1 {
		c, err := begin()
		if err != nil {
			return fail(err)
		}
		conns = append(conns, c)
		if pos, err = mariaSnapshotPosition(ctx, c); err != nil {
			return fail(err)
		}
		return pos, conns, nil
	}

	lock, err := db.Conn(ctx)
	if err != nil {
		return fail(fmt.Errorf("snapshot: connecting: %w", err))
	}
	defer lock.Close()
	_, _ = lock.ExecContext(ctx, "SET SESSION lock_wait_timeout = 10")
	if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		if mariadb {
			log.Warn("snapshot: FLUSH TABLES WITH READ LOCK failed; reading the tables one after the other on one connection, which needs no lock (grant RELOAD to read in parallel)", "err", err)
			return openSnapshots(ctx, db, srv, 1, log)
		}
		return fail(&mycapture.SetupError{What: "snapshot lock", Err: fmt.Errorf("FLUSH TABLES WITH READ LOCK: %w", err),
			Fix: "GRANT RELOAD ON *.* to Sluice's user (MySQL needs the lock for a moment to read a binlog position consistent with the snapshot), and make sure no long statement holds tables"})
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = lock.ExecContext(uctx, "UNLOCK TABLES")
			_, _ = lock.ExecContext(uctx, "SET SESSION lock_wait_timeout = DEFAULT")
			cancel()
			unlocked = true
		}
	}
	defer unlock()
	locked := time.Now()
	for range n {
		c, err := begin()
		if err != nil {
			return fail(err)
		}
		conns = append(conns, c)
	}
	if mariadb {
		for i, c := range conns {
			p, err := mariaSnapshotPosition(ctx, c)
			if err != nil {
				return fail(err)
			}
			if i == 0 {
				pos = p
			} else if p != pos {
				return fail(fmt.Errorf("snapshot: connections opened their snapshots at different binlog positions (%s and %s) although commits were locked", pos, p))
			}
		}
	} else {
		if pos, err = mycapture.HeadPosition(ctx, lock, srv); err != nil {
			return fail(err)
		}
	}
	unlock()
	log.Info("snapshot: consistent snapshots opened under FLUSH TABLES WITH READ LOCK", "connections", n, "lock_held_ms", time.Since(locked).Milliseconds())
	return pos, conns, nil
}

// mariaSnapshotPosition reads the binlog position of the connection's
// consistent snapshot, and its GTID position.
func mariaSnapshotPosition(ctx context.Context, c *sql.Conn) (checkpoint.Position, error) {
	var pos checkpoint.Position
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return pos, fmt.Errorf("snapshot: SHOW STATUS LIKE 'binlog_snapshot_%%': %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return pos, err
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			pos.File = v
		case "binlog_snapshot_position":
			if _, err := fmt.Sscan(v, &pos.Pos); err != nil {
				return pos, fmt.Errorf("snapshot: binlog_snapshot_position %q: %w", v, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return pos, err
	}
	rows.Close()
	if pos.File == "" {
		return pos, &mycapture.SetupError{What: "mysql binary log", Err: errors.New("binlog_snapshot_file is empty: the binary log is off"),
			Fix: "put log_bin=mysql-bin under [mysqld] in my.cnf and restart the server"}
	}
	if pos.GTIDSet, err = mycapture.BinlogGTIDPos(ctx, c, pos.File, pos.Pos); err != nil {
		return pos, err
	}
	return pos, nil
}

// readMySQLTable reads a whole table (MySQL tables are not split, so cond
// is always empty).
func readMySQLTable(ctx context.Context, c *sql.Conn, t *schema.Table, _ string, b *batcher) error {
	exprs := make([]string, len(t.Columns))
	for i := range t.Columns {
		exprs[i] = mycapture.SelectExpr(&t.Columns[i])
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + mycapture.QuoteTable(t.ID)
	rs, err := c.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("snapshot: reading %s: %w", t.ID, err)
	}
	defer rs.Close()
	raw := make([]sql.RawBytes, len(t.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return fmt.Errorf("snapshot: reading %s: %w", t.ID, err)
		}
		vals := make([]any, len(t.Columns))
		for i := range t.Columns {
			if raw[i] == nil {
				continue
			}
			if vals[i], err = mycapture.FromText(&t.Columns[i], raw[i]); err != nil {
				return fmt.Errorf("snapshot: table %s: %w", t.ID, err)
			}
		}
		if err := b.add(ctx, row{table: t, vals: vals}); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("snapshot: reading %s: %w", t.ID, err)
	}
	return nil
}
