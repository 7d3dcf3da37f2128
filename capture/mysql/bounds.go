package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// SnapshotStart returns where the initial snapshot's stream starts and, as
// of exactly that position, each table's last key: the snapshot engine
// reads every table up to its bound while streaming from the position, so
// that a row committed before it comes from the snapshot and a row
// inserted after it beyond the bound from the stream alone.
//
// Both are read in one consistent-snapshot transaction whose binlog
// position is known: MariaDB reports it (binlog_snapshot_file and
// binlog_snapshot_position), without any lock; MySQL has no such status,
// so commits are held by FLUSH TABLES WITH READ LOCK while the
// transaction opens and the position is read (milliseconds; the wait for
// running statements is bounded to 10s). Without the RELOAD privilege, or
// when the lock is not had in time, MySQL reads the position just before
// opening the transaction: a row committed in between may then come twice,
// as its insert and as a snapshot read of the same or a newer state, never
// not at all. The transaction ends before this returns.
func (s *Source) SnapshotStart(ctx context.Context, tables []schema.TableID) (checkpoint.Position, map[schema.TableID][]string, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return checkpoint.Position{}, nil, fmt.Errorf("mysql: snapshot start: %w", err)
	}
	defer c.Close()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = c.ExecContext(rctx, "ROLLBACK")
		cancel()
	}()
	pos, err := s.openSnapshot(ctx, c)
	if err != nil {
		return pos, nil, err
	}
	bounds := make(map[schema.TableID][]string, len(tables))
	for _, id := range tables {
		t, err := Describe(ctx, c, id)
		if err != nil {
			return pos, nil, err
		}
		if len(t.Key) == 0 {
			return pos, nil, snapshotable(t)
		}
		if bounds[id], err = lastKey(ctx, c, t); err != nil {
			return pos, nil, err
		}
	}
	return pos, bounds, nil
}

// openSnapshot opens a consistent-snapshot transaction on c and returns
// its binlog position.
func (s *Source) openSnapshot(ctx context.Context, c *sql.Conn) (checkpoint.Position, error) {
	begin := func() error {
		for _, q := range []string{
			"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
			"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
		} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("mysql: snapshot start: %s: %w", q, err)
			}
		}
		return nil
	}
	if s.srv.Flavor == FlavorMariaDB {
		if err := begin(); err != nil {
			return checkpoint.Position{}, err
		}
		return mariaSnapshotPosition(ctx, c)
	}
	lock, err := s.db.Conn(ctx)
	if err != nil {
		return checkpoint.Position{}, fmt.Errorf("mysql: snapshot start: %w", err)
	}
	defer lock.Close()
	_, _ = lock.ExecContext(ctx, "SET SESSION lock_wait_timeout = 10")
	if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		s.log.Warn("snapshot start: FLUSH TABLES WITH READ LOCK failed; reading the binlog position just before the snapshot's bounds instead "+
			"(rows committed in between may come twice; grant RELOAD to avoid it)", "err", err)
		pos, err := HeadPosition(ctx, c, s.srv)
		if err != nil {
			return pos, err
		}
		return pos, begin()
	}
	locked := time.Now()
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, _ = lock.ExecContext(uctx, "UNLOCK TABLES")
		_, _ = lock.ExecContext(uctx, "SET SESSION lock_wait_timeout = DEFAULT")
		cancel()
		s.log.Info("snapshot start: position read under FLUSH TABLES WITH READ LOCK", "lock_held_ms", time.Since(locked).Milliseconds())
	}()
	if err := begin(); err != nil {
		return checkpoint.Position{}, err
	}
	return HeadPosition(ctx, lock, s.srv)
}

// mariaSnapshotPosition reads the binlog position of the connection's
// consistent snapshot, and its GTID position.
func mariaSnapshotPosition(ctx context.Context, c *sql.Conn) (checkpoint.Position, error) {
	var pos checkpoint.Position
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return pos, fmt.Errorf("mysql: SHOW STATUS LIKE 'binlog_snapshot_%%': %w", err)
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
				return pos, fmt.Errorf("mysql: binlog_snapshot_position %q: %w", v, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return pos, err
	}
	rows.Close()
	if pos.File == "" {
		return pos, &SetupError{What: "mysql binary log", Err: errors.New("binlog_snapshot_file is empty: the binary log is off"),
			Fix: "put log_bin=mysql-bin under [mysqld] in my.cnf and restart the server"}
	}
	if pos.GTIDSet, err = BinlogGTIDPos(ctx, c, pos.File, pos.Pos); err != nil {
		return pos, err
	}
	return pos, nil
}
