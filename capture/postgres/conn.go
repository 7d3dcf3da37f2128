// Package postgres captures changes from PostgreSQL with logical
// replication (pgoutput) through pglogrepl, and describes tables for the
// schema package. It knows nothing of Avro or Kafka.
package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/internal/certerr"
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

// DSNOption adjusts the configuration ParseDSN returns.
type DSNOption func(*pgconn.Config)

// WithTLS makes every connection opened with the parsed configuration
// (catalog, snapshot and replication alike) use TLS with tc, verified as tc
// says. It overrides the DSN's sslmode, sslrootcert, sslcert, sslkey and
// sslsni: there is no plaintext fallback, as there is with sslmode=prefer.
// An empty tc.ServerName is set to the host being dialled, so the
// certificate must name that host (DNS name or IP address) unless
// InsecureSkipVerify is set. Unix-socket hosts stay without TLS, because
// Postgres offers none there. A nil tc changes nothing: the DSN's own ssl*
// parameters apply, as libpq defines them.
func WithTLS(tc *tls.Config) DSNOption {
	return func(cfg *pgconn.Config) {
		if tc == nil {
			return
		}
		// sslmode=prefer and allow list every host twice (with and without
		// TLS); keep each host:port once, in order.
		type target struct {
			host string
			port uint16
		}
		var targets []target
		seen := map[target]bool{}
		add := func(host string, port uint16) {
			t := target{host, port}
			if !seen[t] {
				seen[t] = true
				targets = append(targets, t)
			}
		}
		add(cfg.Host, cfg.Port)
		for _, fb := range cfg.Fallbacks {
			add(fb.Host, fb.Port)
		}
		tlsFor := func(host string) *tls.Config {
			if network, _ := pgconn.NetworkAddress(host, 0); network == "unix" {
				return nil
			}
			c := tc.Clone()
			if c.ServerName == "" {
				c.ServerName = host
			}
			if cfg.SSLNegotiation == "direct" {
				c.NextProtos = []string{"postgresql"}
			}
			return c
		}
		cfg.TLSConfig = tlsFor(cfg.Host)
		fallbacks := make([]*pgconn.FallbackConfig, 0, len(targets)-1)
		for _, t := range targets[1:] {
			fallbacks = append(fallbacks, &pgconn.FallbackConfig{Host: t.host, Port: t.port, TLSConfig: tlsFor(t.host)})
		}
		cfg.Fallbacks = fallbacks
	}
}

// ParseDSN parses a postgres:// URL or key=value DSN and applies opts. The
// error never contains the DSN or its password.
func ParseDSN(dsn string, opts ...DSNOption) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		var pe *pgconn.ParseConfigError
		msg := "invalid"
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			msg = Redact(pe.Unwrap().Error(), dsn)
		}
		fix := "use the form postgres://user:password@host:5432/dbname?sslmode=disable"
		if pe != nil && strings.Contains(pe.Error(), "failed to configure TLS") {
			fix = "check the ssl parameters of source.dsn (sslmode, sslrootcert, sslcert, sslkey): the files must exist and be readable; or configure TLS with source.tls instead"
		}
		return nil, &SetupError{What: "source.dsn", Err: errors.New(msg), Fix: fix}
	}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	for _, o := range opts {
		o(cfg)
	}
	return cfg, nil
}

// Redact removes the DSN and the password it holds from msg: the DSN as
// written, and the password as written, percent-decoded and quoted, whether
// dsn is a URL or key=value pairs. It is best effort on malformed input.
func Redact(msg, dsn string) string {
	if dsn == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, dsn, "<dsn>")
	for _, pw := range dsnPasswords(dsn) {
		msg = redactPassword(msg, pw)
	}
	return msg
}

// redactPassword replaces pw in msg, in every form it could be quoted in,
// by "***". Passwords shorter than 3 bytes are left: replacing them would
// mangle unrelated text, and they are not secrets worth the name.
func redactPassword(msg, pw string) string {
	if len(pw) < 3 {
		return msg
	}
	forms := []string{pw, strings.Trim(strconv.Quote(pw), `"`), url.QueryEscape(pw), url.PathEscape(pw)}
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, "***")
	}
	return msg
}

// dsnPasswords returns the passwords written in dsn, as written and
// percent-decoded: from a URL's user information and from password= pairs,
// even in a DSN that does not parse.
func dsnPasswords(dsn string) []string {
	var raw []string
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		// The user information ends at the last '@' of the authority; a
		// password holding an unescaped '/' or '?' hides the authority's
		// end, so the last '@' of the whole DSN is tried too (a longer
		// candidate is harmless: it is only ever replaced, never shown).
		authority := rest
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			authority = rest[:j]
		}
		for _, s := range []string{authority, rest} {
			if at := strings.LastIndex(s, "@"); at >= 0 {
				if c := strings.Index(s[:at], ":"); c >= 0 {
					raw = append(raw, s[c+1:at])
				}
			}
		}
	}
	for s := dsn; ; {
		i := strings.Index(s, "password=")
		if i < 0 {
			break
		}
		s = s[i+len("password="):]
		v := s
		if strings.HasPrefix(s, "'") {
			v = s[1:]
			if end := strings.Index(v, "'"); end >= 0 {
				v = v[:end]
			}
		} else if end := strings.IndexAny(s, " &"); end >= 0 {
			v = s[:end]
		}
		raw = append(raw, v)
	}
	var out []string
	for _, pw := range raw {
		out = append(out, pw)
		if d, err := url.QueryUnescape(pw); err == nil && d != pw {
			out = append(out, d)
		}
		if d, err := url.PathUnescape(pw); err == nil && d != pw {
			out = append(out, d)
		}
	}
	return out
}

// redactedError is err with the password removed from its text; Unwrap
// still reaches err, for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// withoutPassword returns err unchanged when its text does not hold
// password, and a redactedError otherwise.
func withoutPassword(err error, password string) error {
	if err == nil {
		return nil
	}
	msg := redactPassword(err.Error(), password)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// SetupError is capture.SetupError, the one setup error of every source.
type SetupError = capture.SetupError

// connectError turns a connection failure into an error naming the
// cause and the fix. Its text never holds the password: pgconn's errors do
// not quote it today, and withoutPassword makes sure of it.
func connectError(cfg *pgconn.Config, err error) error {
	err = withoutPassword(err, cfg.Password)
	where := fmt.Sprintf("postgres %s:%d database %q user %q", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			if strings.Contains(pgErr.Message, "no encryption") {
				return &SetupError{What: where, Err: err,
					Fix: "the server accepts this user only over TLS: set source.tls.enabled: true and source.tls.ca_file to the CA of the server's certificate (or sslmode=verify-full&sslrootcert=FILE in source.dsn)"}
			}
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
	if tlsErr := certerr.Find(err); tlsErr != nil {
		// Not transient: a retry meets the same certificate.
		return &SetupError{What: where, Err: fmt.Errorf("TLS certificate verification failed: %w", tlsErr),
			Fix: "set source.tls.ca_file (or sslrootcert in source.dsn) to the PEM file of the CA that signed the server's certificate, " +
				"and make the host in source.dsn (or source.tls.server_name) one the certificate names"}
	}
	if strings.Contains(err.Error(), "server refused TLS connection") {
		return &SetupError{What: where, Err: err,
			Fix: "the server has TLS off: set ssl = on (with ssl_cert_file and ssl_key_file) in postgresql.conf, or turn TLS off in source.tls and source.dsn's sslmode"}
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
