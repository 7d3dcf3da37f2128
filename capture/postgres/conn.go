// Package postgres captures changes from PostgreSQL with logical
// replication (pgoutput) through pglogrepl, and describes tables for the
// schema package. It knows nothing of Avro or Kafka.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sessionParams make every text-format value the server sends
// deterministic, so that snapshot reads and pgoutput produce identical
// text for identical values, and the schema package parses one format
// (docs/TYPES.md).
var sessionParams = map[string]string{
	"TimeZone":           "UTC",
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "iso_8601",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"lc_monetary":        "C",
	"application_name":   "sluice",
}

// ParseDSN parses a postgres:// URL or key=value DSN. The error never
// contains the DSN (it may hold a password).
func ParseDSN(dsn string) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		var pe *pgconn.ParseConfigError
		msg := "invalid"
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			msg = redact(pe.Unwrap().Error(), dsn)
		}
		return nil, &SetupError{What: "source.dsn", Err: fmt.Errorf("%s", msg),
			Fix: "use the form postgres://user:password@host:5432/dbname?sslmode=disable"}
	}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	return cfg, nil
}

func redact(msg, dsn string) string {
	if dsn != "" {
		msg = strings.ReplaceAll(msg, dsn, "<dsn>")
	}
	return msg
}

// SetupError is a prerequisite that is not met: What failed, the
// underlying error, and what to do about it.
type SetupError struct {
	What string
	Err  error
	Fix  string
	// Transient marks a failure that may pass by itself (the server is
	// unreachable or restarting); a running instance retries it.
	Transient bool
}

func (e *SetupError) Error() string {
	s := e.What + ": " + e.Err.Error()
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

func (e *SetupError) Unwrap() error { return e.Err }

// connectError turns a connection failure into an error naming the
// cause and the fix.
func connectError(cfg *pgconn.Config, err error) error {
	where := fmt.Sprintf("postgres %s:%d database %q user %q", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			if strings.Contains(pgErr.Message, "replication") {
				return &SetupError{What: where, Err: err,
					Fix: "allow replication connections for this user in pg_hba.conf (a line with database 'replication' or the database name for logical replication)"}
			}
			return &SetupError{What: where, Err: errors.New("authentication failed (wrong user or password)"),
				Fix: "check the user and password in source.dsn (or source.dsn_file)"}
		case "57P03", "57P01", "53300": // starting up, shutting down, too many connections
			return &SetupError{What: where, Err: err, Fix: "wait for Postgres to accept connections", Transient: true}
		case "3D000":
			return &SetupError{What: where, Err: err, Fix: "create the database or correct its name in source.dsn"}
		case "42501":
			return &SetupError{What: where, Err: err,
				Fix: "grant the user the REPLICATION attribute: ALTER ROLE " + cfg.User + " WITH REPLICATION"}
		}
		return &SetupError{What: where, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || strings.Contains(err.Error(), "connect") {
		return &SetupError{What: where, Err: err, Fix: "check that Postgres is running and source.dsn has the right host and port", Transient: true}
	}
	return &SetupError{What: where, Err: err}
}

// Connect opens a regular SQL connection.
func Connect(ctx context.Context, cfg *pgconn.Config) (*pgx.Conn, error) {
	pc := cfg.Copy()
	pc.RuntimeParams = copyParams(cfg.RuntimeParams)
	delete(pc.RuntimeParams, "replication")
	ccfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	ccfg.Config = *pc
	// Snapshot reads use the simple protocol so every value arrives in
	// text format, exactly as pgoutput sends it.
	ccfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	if err != nil {
		return nil, connectError(cfg, err)
	}
	return conn, nil
}

// ConnectReplication opens a logical replication connection.
func ConnectReplication(ctx context.Context, cfg *pgconn.Config) (*pgconn.PgConn, error) {
	pc := cfg.Copy()
	pc.RuntimeParams = copyParams(cfg.RuntimeParams)
	pc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, connectError(cfg, err)
	}
	return conn, nil
}

func copyParams(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CheckServer verifies the settings logical replication needs and returns
// the server's system identifier.
func CheckServer(ctx context.Context, conn *pgx.Conn) error {
	var walLevel string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
		return fmt.Errorf("postgres: reading wal_level: %w", err)
	}
	if walLevel != "logical" {
		return &SetupError{What: "postgres wal_level", Err: fmt.Errorf("is %q, logical replication needs \"logical\"", walLevel),
			Fix: "ALTER SYSTEM SET wal_level = logical; then restart Postgres"}
	}
	var version int
	if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&version); err == nil && version < 100000 {
		return &SetupError{What: "postgres version", Err: fmt.Errorf("server_version_num %d", version), Fix: "use PostgreSQL 10 or newer"}
	}
	var canReplicate bool
	if err := conn.QueryRow(ctx, "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&canReplicate); err == nil && !canReplicate {
		var user string
		_ = conn.QueryRow(ctx, "SELECT current_user").Scan(&user)
		return &SetupError{What: "postgres role " + user, Err: errors.New("lacks the REPLICATION attribute"),
			Fix: "ALTER ROLE " + pgx.Identifier{user}.Sanitize() + " WITH REPLICATION"}
	}
	return nil
}
