package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicecdc/sluice/checkpoint"
)

// BinaryLog is one file of SHOW BINARY LOGS.
type BinaryLog struct {
	Name string
	Size uint64
}

// BinaryLogs lists the server's binlog files, oldest first.
func BinaryLogs(ctx context.Context, q querier) ([]BinaryLog, error) {
	rows, err := q.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		if n, ok := myErrNo(err); ok && n == erSpecificAccess {
			return nil, &SetupError{What: "mysql SHOW BINARY LOGS", Err: err,
				Fix: "GRANT REPLICATION CLIENT ON *.* (MariaDB 10.5+: BINLOG MONITOR) to Sluice's user"}
		}
		return nil, fmt.Errorf("mysql: SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []BinaryLog
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var b BinaryLog
		b.Name = string(vals[0])
		if len(vals) > 1 {
			_, _ = fmt.Sscan(string(vals[1]), &b.Size)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// HeadPosition returns the server's current binlog end: file, position and
// the GTID set executed up to there (MariaDB: BINLOG_GTID_POS of that
// position; MySQL: Executed_Gtid_Set, read in the same statement).
func HeadPosition(ctx context.Context, q querier, srv *Server) (checkpoint.Position, error) {
	var pos checkpoint.Position
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	if n, ok := myErrNo(err); ok && n == erParseError {
		rows, err = q.QueryContext(ctx, "SHOW BINARY LOG STATUS") // MySQL 8.4+
	}
	if err != nil {
		return pos, fmt.Errorf("mysql: SHOW MASTER STATUS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return pos, err
		}
		return pos, &SetupError{What: "mysql binary log", Err: errors.New("SHOW MASTER STATUS returns nothing: the binary log is off"),
			Fix: "put log_bin=mysql-bin under [mysqld] in my.cnf and restart the server"}
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return pos, err
	}
	pos.File = string(vals[0])
	if _, err := fmt.Sscan(string(vals[1]), &pos.Pos); err != nil {
		return pos, fmt.Errorf("mysql: SHOW MASTER STATUS position %q: %w", vals[1], err)
	}
	for i, c := range cols {
		if strings.EqualFold(c, "Executed_Gtid_Set") && srv.GTID {
			set, err := ParseMySQLGTIDSet(string(vals[i]))
			if err != nil {
				return pos, err
			}
			pos.GTIDSet = set.String()
		}
	}
	rows.Close()
	if srv.Flavor == FlavorMariaDB {
		g, err := BinlogGTIDPos(ctx, q, pos.File, pos.Pos)
		if err != nil {
			return pos, err
		}
		pos.GTIDSet = g
	}
	return pos, nil
}

// BinlogGTIDPos returns MariaDB's GTID position for a binlog file:pos.
func BinlogGTIDPos(ctx context.Context, q querier, file string, pos uint32) (string, error) {
	var g sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, pos).Scan(&g); err != nil {
		return "", fmt.Errorf("mysql: BINLOG_GTID_POS(%s, %d): %w", file, pos, err)
	}
	if !g.Valid {
		return "", fmt.Errorf("mysql: BINLOG_GTID_POS(%s, %d) is NULL: no such binlog position", file, pos)
	}
	set, err := ParseMariaGTIDSet(g.String)
	if err != nil {
		return "", err
	}
	return set.String(), nil
}

// purgedFix is the advice for a checkpoint the server can no longer serve.
const purgedFix = "Sluice will not resume past a gap: raise binlog retention (binlog_expire_logs_seconds / expire_logs_days) " +
	"and start over with a new snapshot (a new name, or delete this name's record from _sluice.<name>.offsets)"

// ValidateStart checks that the server can stream from a checkpointed
// position without a gap: the binlog file still exists and is long enough,
// and the GTID history neither was purged past the checkpoint nor is
// behind it (a reset or rewound server).
func ValidateStart(ctx context.Context, q querier, srv *Server, pos checkpoint.Position) error {
	logs, err := BinaryLogs(ctx, q)
	if err != nil {
		return err
	}
	if len(logs) == 0 {
		return &SetupError{What: "mysql binary log", Err: errors.New("SHOW BINARY LOGS lists no file"), Fix: "enable log_bin"}
	}
	if pos.File != "" {
		found := false
		for _, l := range logs {
			if l.Name == pos.File {
				found = true
				if l.Size != 0 && uint64(pos.Pos) > l.Size {
					return &SetupError{What: "binlog position " + pos.String(),
						Err: fmt.Errorf("file %s is only %d bytes long, shorter than the checkpoint: the binary log was reset or rewound (or this is another server)", l.Name, l.Size),
						Fix: purgedFix}
				}
			}
		}
		if !found {
			if pos.File < logs[0].Name {
				return &SetupError{What: "binlog position " + pos.String(),
					Err: fmt.Errorf("binlog file %s was purged: the server's oldest binlog is %s, so changes after the checkpoint are gone", pos.File, logs[0].Name),
					Fix: purgedFix}
			}
			return &SetupError{What: "binlog position " + pos.String(),
				Err: fmt.Errorf("binlog file %s does not exist on the server (its binlogs run from %s to %s): the binary log was reset (or this is another server)", pos.File, logs[0].Name, logs[len(logs)-1].Name),
				Fix: purgedFix}
		}
	}
	if pos.GTIDSet == "" {
		return nil
	}
	switch srv.Flavor {
	case FlavorMariaDB:
		cp, err := ParseMariaGTIDSet(pos.GTIDSet)
		if err != nil {
			return err
		}
		var cur string
		if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&cur); err != nil {
			return fmt.Errorf("mysql: reading gtid_binlog_pos: %w", err)
		}
		head, err := ParseMariaGTIDSet(cur)
		if err != nil {
			return err
		}
		if behind := cp.Behind(head); len(behind) > 0 {
			return &SetupError{What: "binlog GTID position " + pos.GTIDSet,
				Err: fmt.Errorf("the server's binlog (gtid_binlog_pos %s) is behind the checkpoint: %s; the binary log was reset or rewound (or this is another server)", orEmpty(cur), strings.Join(behind, "; ")),
				Fix: purgedFix}
		}
		// The oldest binlog starts at BINLOG_GTID_POS(oldest, 4): a
		// checkpoint older than that in any domain needs purged events.
		start, err := BinlogGTIDPos(ctx, q, logs[0].Name, 4)
		if err != nil {
			return err
		}
		oldest, err := ParseMariaGTIDSet(start)
		if err != nil {
			return err
		}
		for _, d := range oldest.Domains() {
			og, _ := oldest.Domain(d)
			cg, ok := cp.Domain(d)
			if !ok || cg.Seq < og.Seq {
				have := "nothing"
				if ok {
					have = cg.String()
				}
				return &SetupError{What: "binlog GTID position " + pos.GTIDSet,
					Err: fmt.Errorf("binlogs were purged: the oldest binlog %s starts after %s in domain %d, and the checkpoint has %s there, so changes after the checkpoint are gone", logs[0].Name, og, d, have),
					Fix: purgedFix}
			}
		}
	case FlavorMySQL:
		cp, err := ParseMySQLGTIDSet(pos.GTIDSet)
		if err != nil {
			return err
		}
		var executed, purged string
		if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.gtid_purged").Scan(&executed, &purged); err != nil {
			return fmt.Errorf("mysql: reading gtid_executed: %w", err)
		}
		ex, err := ParseMySQLGTIDSet(executed)
		if err != nil {
			return err
		}
		pu, err := ParseMySQLGTIDSet(purged)
		if err != nil {
			return err
		}
		if !ex.Contains(cp) {
			return &SetupError{What: "binlog GTID set",
				Err: fmt.Errorf("the checkpoint %s has transactions the server (gtid_executed %s) never executed: the server was reset or rewound, or this is another server", cp, orEmpty(executed)),
				Fix: purgedFix}
		}
		if !cp.Contains(pu) {
			return &SetupError{What: "binlog GTID set",
				Err: fmt.Errorf("binlogs were purged: gtid_purged %s holds transactions after the checkpoint %s, so changes after the checkpoint are gone", purged, cp),
				Fix: purgedFix}
		}
	}
	return nil
}

func orEmpty(s string) string {
	if s == "" {
		return "empty"
	}
	return s
}
