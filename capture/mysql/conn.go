package mysql

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/capture"
)

// SetupError is capture.SetupError, the one setup error of every source.
type SetupError = capture.SetupError

// ConnConfig is a parsed source.dsn.
type ConnConfig struct {
	User     string
	Password string
	// Net is "tcp" (Addr is host:port) or "unix" (Addr is a socket path).
	Net  string
	Addr string
	Host string
	Port uint16
	// Database is the DSN's default database, if any; Sluice does not need
	// one.
	Database string
	// TLS, when set, is used for both the SQL and the binlog connection.
	TLS *tls.Config
}

const dsnFix = "use the form mysql://user:password@host:3306/ (percent-encode special characters in the password) or user:password@tcp(host:3306)/"

// ParseDSN parses "mysql://user:pass@host:3306/[db]" (also mariadb://) or
// the go-sql-driver form "user:pass@tcp(host:3306)/[db]". The error never
// contains the DSN or the password.
func ParseDSN(dsn string) (*ConnConfig, error) {
	bad := func(msg string) error {
		return &SetupError{What: "source.dsn", Err: errors.New(msg), Fix: dsnFix}
	}
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return nil, bad("is empty")
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok {
		if scheme != "mysql" && scheme != "mariadb" {
			return nil, bad(fmt.Sprintf("scheme %q is not mysql:// or mariadb://", scheme))
		}
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, bad("is not a valid URL")
		}
		if u.User == nil || u.User.Username() == "" {
			return nil, bad("has no user name")
		}
		c := &ConnConfig{User: u.User.Username(), Net: "tcp", Database: strings.TrimPrefix(u.Path, "/")}
		c.Password, _ = u.User.Password()
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return nil, bad("has no host")
		}
		if port == "" {
			port = "3306"
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
		c.Host, c.Port = host, uint16(p)
		c.Addr = net.JoinHostPort(host, port)
		if strings.Contains(c.Database, "/") {
			return nil, bad("has a path with more than a database name")
		}
		return c, nil
	}
	if !strings.Contains(dsn, "@") || !strings.Contains(dsn, "(") {
		return nil, bad("is neither a mysql:// URL nor user:password@tcp(host:port)/")
	}
	dc, err := driver.ParseDSN(dsn)
	if err != nil {
		// The driver's messages may quote the DSN; keep only what is safe.
		return nil, bad("does not parse as user:password@tcp(host:port)/[database]")
	}
	c := &ConnConfig{User: dc.User, Password: dc.Passwd, Net: dc.Net, Addr: dc.Addr, Database: dc.DBName}
	switch dc.Net {
	case "tcp", "tcp4", "tcp6":
		c.Net = "tcp"
		host, port, err := net.SplitHostPort(dc.Addr)
		if err != nil {
			return nil, bad("the address is not host:port")
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
		c.Host, c.Port = host, uint16(p)
	case "unix":
		c.Host = dc.Addr // go-mysql dials a path when the host contains '/'
	default:
		return nil, bad(fmt.Sprintf("network %q is not tcp or unix", dc.Net))
	}
	if c.User == "" {
		return nil, bad("has no user name")
	}
	return c, nil
}

// Where names the server and user for messages (never the password).
func (c *ConnConfig) Where() string { return fmt.Sprintf("mysql %s user %q", c.Addr, c.User) }

// DriverConfig returns the go-sql-driver configuration of a SQL connection
// whose session makes every value come back as the binlog has it: column
// bytes in their own character set (character_set_results = NULL, so the
// server converts nothing), TIMESTAMPs in UTC, and CHAR without padding.
func (c *ConnConfig) DriverConfig() *driver.Config {
	dc := driver.NewConfig()
	dc.User, dc.Passwd, dc.Net, dc.Addr, dc.DBName = c.User, c.Password, c.Net, c.Addr, ""
	dc.Collation = "utf8mb4_general_ci"
	dc.Timeout = 15 * time.Second
	dc.ReadTimeout = 0
	dc.Params = map[string]string{
		"time_zone":             "'+00:00'",
		"sql_mode":              "''",
		"character_set_results": "NULL",
	}
	if c.TLS != nil {
		dc.TLS = c.TLS
	}
	return dc
}

// OpenDB opens a connection pool with DriverConfig's session settings and
// checks that the server answers.
func OpenDB(ctx context.Context, c *ConnConfig) (*sql.DB, error) {
	conn, err := driver.NewConnector(c.DriverConfig())
	if err != nil {
		return nil, &SetupError{What: c.Where(), Err: err}
	}
	db := sql.OpenDB(conn)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, connectError(c, err)
	}
	return db, nil
}

// MySQL error numbers Sluice tells apart.
const (
	erAccessDenied        = 1045
	erSpecificAccess      = 1227
	erMasterFatalReading  = 1236
	erServerShutdown      = 1053
	erConCount            = 1040
	erQueryInterrupted    = 1317
	erConnectionKilled    = 1927 // MariaDB
	erSlaveSameID         = 4052 // MariaDB: another replica connected with this server_id
	erNetReadError        = 1158
	erNetReadInterrupted  = 1159
	erNetErrorOnWrite     = 1160
	erNetWriteInterrupted = 1161
	erParseError          = 1064
	erDBAccessDenied      = 1044
	erTableAccessDenied   = 1142
	erNoSuchTable         = 1146
)

func myErrNo(err error) (uint16, bool) {
	var me *driver.MySQLError
	if errors.As(err, &me) {
		return me.Number, true
	}
	return 0, false
}

// connectError turns a connection failure into an error naming the cause
// and the fix.
func connectError(c *ConnConfig, err error) error {
	where := c.Where()
	if n, ok := myErrNo(err); ok {
		switch n {
		case erAccessDenied:
			return &SetupError{What: where, Err: errors.New("authentication failed (wrong user or password, or the user may not connect from this host)"),
				Fix: "check the user and password in source.dsn (or source.dsn_file) and the user's host in mysql.user"}
		case erServerShutdown, erConCount:
			return &SetupError{What: where, Err: err, Fix: "wait for the server to accept connections", Transient: true}
		}
		return &SetupError{What: where, Err: err}
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return &SetupError{What: where, Err: fmt.Errorf("TLS certificate verification failed: %w", err),
			Fix: "set source.tls.ca_file to the PEM file of the CA that signed the server's certificate, and reach the server by a host name " +
				"or IP address the certificate names (or set source.tls.server_name)"}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrInvalidConn) || strings.Contains(err.Error(), "connect") {
		return &SetupError{What: where, Err: err, Fix: "check that the server is running and source.dsn has the right host and port", Transient: true}
	}
	return &SetupError{What: where, Err: err}
}
