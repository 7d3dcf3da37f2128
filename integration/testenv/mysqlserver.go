package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlServer is what the MariaDB and MySQL servers share: where they
// listen, the DSNs that reach them, and the life of their process.
type mysqlServer struct {
	Host string // always 127.0.0.1
	Port int

	srv      server
	stopWait time.Duration                   // SIGTERM's grace before SIGKILL
	start    func(ctx context.Context) error // starts the process; srv.mu held
}

// Addr returns "127.0.0.1:port".
func (m *mysqlServer) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// DSN returns "mysql://user:pass@127.0.0.1:port/db".
func (m *mysqlServer) DSN(user, pass, db string) string {
	u := url.URL{Scheme: "mysql", User: url.UserPassword(user, pass), Host: m.Addr(), Path: "/" + db}
	return u.String()
}

// GoSQLDSN returns the same connection in github.com/go-sql-driver/mysql
// form, "user:pass@tcp(127.0.0.1:port)/db"; append "?parseTime=true" etc. as
// needed.
func (m *mysqlServer) GoSQLDSN(user, pass, db string) string {
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = pass
	cfg.Net = "tcp"
	cfg.Addr = m.Addr()
	cfg.DBName = db
	return cfg.FormatDSN()
}

// Restart shuts the server down (or nothing, after Kill) and starts it again
// with the same data directory, port and arguments.
func (m *mysqlServer) Restart(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, 2*m.stopWait)
	defer cancel()
	m.srv.mu.Lock()
	defer m.srv.mu.Unlock()
	if m.srv.stopped {
		return fmt.Errorf("testenv: %s already stopped", m.srv.name)
	}
	m.srv.proc.stop(syscall.SIGTERM, m.stopWait)
	m.srv.proc = nil
	return m.start(ctx)
}

// Kill SIGKILLs the server (a crash). The data directory stays; Restart
// starts it again with crash recovery.
func (m *mysqlServer) Kill() error {
	m.srv.mu.Lock()
	defer m.srv.mu.Unlock()
	return m.srv.killLocked()
}

// Keep makes Stop keep the server's directory (data and logs) instead of
// removing it.
func (m *mysqlServer) Keep() { m.srv.setKeep() }

// Stop shuts the server down (SIGTERM, SIGKILL after its grace) and
// removes its directory unless Keep was called or SLUICE_KEEP_LOGS=1.
// Safe to call twice.
func (m *mysqlServer) Stop() error {
	m.srv.mu.Lock()
	defer m.srv.mu.Unlock()
	return m.srv.finish(syscall.SIGTERM, m.stopWait)
}

// pingSocket succeeds when the server answers on its unix socket, even if
// it refuses the credentials (no password before setup; a test may change
// it).
func pingSocket(ctx context.Context, socket, password string) error {
	db, err := openSocket(socket, password)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.PingContext(ctx)
	var me *mysql.MySQLError
	if err == nil || errors.As(err, &me) {
		return nil
	}
	return err
}

// openSocket opens a pool connecting as root over the unix socket.
func openSocket(socket, password string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Passwd = password
	cfg.Net = "unix"
	cfg.Addr = socket
	return sql.Open("mysql", cfg.FormatDSN())
}

// execOnSocket runs statements as root over the unix socket, where root
// has no password yet, on one connection.
func execOnSocket(ctx context.Context, socket, kind string, stmts []string) error {
	db, err := openSocket(socket, "") // root has no password yet
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("testenv: %s setup: %w", kind, err)
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("testenv: %s setup: %s: %w", kind, q, err)
		}
	}
	return nil
}
