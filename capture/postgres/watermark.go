package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The prefixes of the logical decoding messages that carry snapshot
// watermarks and requests (`sluice snapshot`).
const (
	WatermarkPrefix = "sluice.watermark"
	SignalPrefix    = "sluice.signal"
)

// Marker writes snapshot watermarks as logical decoding messages
// (pg_logical_emit_message): they need no table and reach every slot of
// the database in commit order. Each is a transaction of its own
// (transactional message, autocommit): its commit flushes the WAL, so the
// walsender sends it at once (a non-transactional message waits for the
// WAL writer, up to wal_writer_delay, before Postgres 17), and the
// watermark sits at a transaction boundary. It uses a connection of its
// own, so that it can be called from the snapshot's goroutines while the
// source streams.
type Marker struct {
	cfg  *pgconn.Config
	mu   sync.Mutex
	conn *pgx.Conn
}

// NewMarker returns a marker connecting with cfg on first use.
func NewMarker(cfg *pgconn.Config) *Marker { return &Marker{cfg: cfg} }

// Mark writes the watermark id. It is safe for concurrent use.
func (m *Marker) Mark(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil || m.conn.IsClosed() {
		c, err := Connect(ctx, m.cfg)
		if err != nil {
			return err
		}
		m.conn = c
	}
	if _, err := m.conn.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2)", WatermarkPrefix, id); err != nil {
		var pgErr *pgconn.PgError
		denied := errors.As(err, &pgErr) && pgErr.Code == "42501"
		return &SetupError{What: "snapshot watermark", Err: fmt.Errorf("pg_logical_emit_message: %w", err), Transient: !denied,
			Fix: "GRANT EXECUTE ON FUNCTION " + emitMessageFunctionOf(m.conn) + " TO Sluice's user (heartbeats need it too)"}
	}
	return nil
}

// Close closes the marker's connection.
func (m *Marker) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.conn.Close(ctx)
	}
}

// WriteSignal records a request in the change stream as a transactional
// logical decoding message: durable once this returns, and read by the
// instance the next time its stream passes it (at once while it runs,
// after its next start otherwise: its slot keeps the WAL). It returns the
// message's LSN.
func WriteSignal(ctx context.Context, cfg *pgconn.Config, payload []byte) (string, error) {
	c, err := Connect(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var lsn string
	if err := c.QueryRow(ctx, "SELECT pg_logical_emit_message(true, $1, $2)::text", SignalPrefix, string(payload)).Scan(&lsn); err != nil {
		var pgErr *pgconn.PgError
		denied := errors.As(err, &pgErr) && pgErr.Code == "42501"
		return "", &SetupError{What: "snapshot request", Err: fmt.Errorf("pg_logical_emit_message: %w", err), Transient: !denied,
			Fix: "GRANT EXECUTE ON FUNCTION " + emitMessageFunctionOf(c) + " TO Sluice's user"}
	}
	return lsn, nil
}

// emitMessageFunctionOf is EmitMessageFunction for the server conn is
// connected to, from the server_version it reported at connect.
func emitMessageFunctionOf(conn *pgx.Conn) string {
	n := 0 // the leading digits: "18.1 (Debian ...)", "18beta1"
	for _, r := range conn.PgConn().ParameterStatus("server_version") {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return EmitMessageFunction(n * 10000)
}
