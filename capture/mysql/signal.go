package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicecdc/sluice/schema"
)

// DefaultSignalTable is source.mysql.signal_table's default.
const DefaultSignalTable = "sluice.sluice_signal"

// The kinds of signal-table rows.
const (
	signalWatermark = "watermark"
	signalSnapshot  = "snapshot"
)

// A MySQL binlog has no message that needs no table (Postgres has
// pg_logical_emit_message), so snapshot watermarks and `sluice snapshot`
// requests are rows of a small table, the signal table. Each is written by
// a transaction of its own that inserts the row and deletes it again: the
// binlog keeps the insert's row event, at its place among the other
// transactions, and the table stays empty. The source recognises the
// table's inserts whatever source.tables says, and never captures the
// table itself.
//
// Columns: id (the watermark's id, or a request's), kind (signalWatermark
// or signalSnapshot) and payload (a request's JSON). The source reads
// them by position, so the table must keep this column order.

// ParseSignalTable parses source.mysql.signal_table ("<database>.<table>";
// empty: DefaultSignalTable).
func ParseSignalTable(s string) (schema.TableID, error) {
	if s == "" {
		s = DefaultSignalTable
	}
	db, name, ok := strings.Cut(s, ".")
	if !ok || db == "" || name == "" || strings.Contains(name, ".") {
		return schema.TableID{}, fmt.Errorf("%q: want <database>.<table>", s)
	}
	return schema.TableID{Namespace: db, Name: name}, nil
}

// SignalTableDDL returns the statements that create the signal table id.
func SignalTableDDL(id schema.TableID) []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + quoteIdent(id.Namespace),
		"CREATE TABLE IF NOT EXISTS " + QuoteTable(id) +
			" (id varchar(255) NOT NULL PRIMARY KEY, kind varchar(32) NOT NULL, payload mediumtext NULL) ENGINE=InnoDB",
	}
}

// signalFix is what a user without the privilege to create or write the
// signal table must run.
func signalFix(id schema.TableID, user string) string {
	return "as an administrator, run " + strings.Join(SignalTableDDL(id), "; ") +
		"; GRANT SELECT, INSERT, DELETE ON " + QuoteTable(id) + " TO '" + user + "'@'<host>' " +
		"(or set source.mysql.signal_table to a table Sluice's user may write)"
}

// EnsureSignalTable creates the signal table when it is missing, and
// checks that it has the expected columns.
func EnsureSignalTable(ctx context.Context, db *sql.DB, id schema.TableID, user string) error {
	exists, err := SignalTableExists(ctx, db, id)
	if exists || err != nil {
		return err
	}
	for _, q := range SignalTableDDL(id) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return &SetupError{What: "source.mysql.signal_table " + id.String(),
				Err: fmt.Errorf("does not exist and cannot be created: %w", err), Fix: signalFix(id, user)}
		}
	}
	_, err = SignalTableExists(ctx, db, id)
	return err
}

// SignalTableExists reports whether the signal table exists with the
// expected columns; the error says what is wrong with it, and how to fix
// it.
func SignalTableExists(ctx context.Context, q querier, id schema.TableID) (bool, error) {
	cols, err := readColumns(ctx, q, id)
	if err != nil {
		return false, err
	}
	if len(cols) == 0 {
		return false, nil
	}
	if len(cols) < 3 || cols[0].name != "id" || cols[1].name != "kind" || cols[2].name != "payload" {
		return true, &SetupError{What: "source.mysql.signal_table " + id.String(),
			Err: errors.New("exists but its first columns are not (id, kind, payload)"),
			Fix: "drop it (Sluice creates it again) or name another table: " + strings.Join(SignalTableDDL(id), "; ")}
	}
	return true, nil
}

// SignalFix is what an administrator runs so that user may use the signal
// table id without creating it.
func SignalFix(id schema.TableID, user string) string { return signalFix(id, user) }

// writeSignal inserts a row into the signal table and deletes it again in
// one transaction: durable in the binlog once this returns.
func writeSignal(ctx context.Context, db *sql.DB, table schema.TableID, user, id, kind string, payload []byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mysql: writing to the signal table %s: %w", table, err)
	}
	var p any
	if payload != nil {
		p = string(payload)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO "+QuoteTable(table)+" (id, kind, payload) VALUES (?, ?, ?)", id, kind, p)
	if err == nil {
		_, err = tx.ExecContext(ctx, "DELETE FROM "+QuoteTable(table)+" WHERE id = ?", id)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		_ = tx.Rollback()
	}
	if err != nil {
		if n, ok := myErrNo(err); ok && (n == erTableAccessDenied || n == erDBAccessDenied || n == erNoSuchTable) {
			return &SetupError{What: "source.mysql.signal_table " + table.String(), Err: fmt.Errorf("writing a %s: %w", kind, err),
				Fix: signalFix(table, user)}
		}
		// A lost connection or a restarting server: retried with the
		// pipeline, and no grant to suggest.
		return &SetupError{What: "source.mysql.signal_table " + table.String(), Err: fmt.Errorf("writing a %s: %w", kind, err),
			Transient: true}
	}
	return nil
}

// Marker writes snapshot watermarks into the binlog as signal-table rows.
// It is safe for concurrent use.
type Marker struct {
	db    *sql.DB
	table schema.TableID
	user  string
}

// Mark writes the watermark id.
func (m *Marker) Mark(ctx context.Context, id string) error {
	return writeSignal(ctx, m.db, m.table, m.user, id, signalWatermark, nil)
}

// WriteSignal records a snapshot request (its JSON) in the binlog through
// the signal table, as row id. The instance reads it the next time its
// stream passes it: at once while it runs, after its next start otherwise
// (as long as the server keeps the binlog).
func WriteSignal(ctx context.Context, c *ConnConfig, table schema.TableID, id string, payload []byte) error {
	db, err := OpenDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := EnsureSignalTable(ctx, db, table, c.User); err != nil {
		return err
	}
	return writeSignal(ctx, db, table, c.User, id, signalSnapshot, payload)
}

// signalRow is a signal-table row of the binlog.
type signalRow struct {
	id, kind string
	payload  []byte
}

// parseSignalRow reads a signal-table row image (id, kind, payload, ...).
func parseSignalRow(r []any) (signalRow, bool) {
	if len(r) < 3 {
		return signalRow{}, false
	}
	text := func(v any) ([]byte, bool) {
		switch v := v.(type) {
		case string:
			return []byte(v), true
		case []byte:
			return v, true
		}
		return nil, false
	}
	id, ok1 := text(r[0])
	kind, ok2 := text(r[1])
	if !ok1 || !ok2 {
		return signalRow{}, false
	}
	payload, _ := text(r[2])
	return signalRow{id: string(id), kind: string(kind), payload: append([]byte(nil), payload...)}, true
}
