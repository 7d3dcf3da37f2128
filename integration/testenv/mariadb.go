package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// MariaDBRootPassword is the password of root (root@'%', root@localhost,
// root@127.0.0.1) in every MariaDB instance.
const MariaDBRootPassword = "root"

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// ExtraArgs are appended to the mariadbd command line after the
	// defaults and so override them, e.g. "--binlog-format=STATEMENT" or
	// "--skip-log-bin" for misconfiguration tests.
	ExtraArgs []string
}

// MariaDB is a private MariaDB 10.11 server listening on Host:Port with the
// binary log on (ROW format, FULL row image and metadata, server_id=1,
// gtid_strict_mode=ON).
type MariaDB struct {
	mysqlServer
	DataDir string
	LogFile string // server log (mariadbd stderr)
	LogDir  string // the instance's temporary directory
	Socket  string // unix socket path

	args []string
}

func mariadbBinaries() (mariadbd, installDB string, err error) {
	mariadbd = "/usr/sbin/mariadbd"
	if _, err := os.Stat(mariadbd); err != nil {
		if mariadbd, err = exec.LookPath("mariadbd"); err != nil {
			return "", "", notInstalled("mariadbd (package mariadb-server)", "/usr/sbin/mariadbd")
		}
	}
	installDB, err = exec.LookPath("mariadb-install-db")
	if err != nil {
		return "", "", notInstalled("mariadb-install-db (package mariadb-server)", "$PATH")
	}
	return mariadbd, installDB, nil
}

// StartMariaDB initializes a fresh data directory in a new temporary
// directory and starts mariadbd on a free loopback port. root's password is
// MariaDBRootPassword over TCP and the socket. The setup statements run with
// sql_log_bin=0, so the binary log starts empty of user events. Call Stop
// when done.
func StartMariaDB(ctx context.Context, opts MariaDBOptions) (*MariaDB, error) {
	mariadbd, installDB, err := mariadbBinaries()
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()

	dir, err := newServerDir("mariadb")
	if err != nil {
		return nil, err
	}
	m := &MariaDB{
		mysqlServer: mysqlServer{Host: Host, srv: server{name: "mariadb", dir: dir}, stopWait: 30 * time.Second},
		DataDir:     filepath.Join(dir, "data"),
		LogFile:     filepath.Join(dir, "mariadb.log"),
		LogDir:      dir,
		Socket:      filepath.Join(dir, "mysqld.sock"),
	}
	m.start = m.startLocked
	fail := func(err error) (*MariaDB, error) {
		m.srv.mu.Lock()
		_ = m.srv.finish(syscall.SIGTERM, 10*time.Second)
		m.srv.mu.Unlock()
		return nil, err
	}
	if err := m.installDB(ctx, mariadbd, installDB); err != nil {
		return fail(err)
	}
	if m.Port, err = freePort(); err != nil {
		return fail(err)
	}
	m.srv.mu.Lock()
	err = startWithPortRetry(func() error {
		m.args = m.buildArgs(mariadbd, opts.ExtraArgs)
		return m.startLocked(ctx)
	}, m.LogFile, func() error {
		p, err := freePort()
		m.Port = p
		return err
	})
	m.srv.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	if err := m.setup(ctx); err != nil {
		return fail(err)
	}
	return m, nil
}

func (m *MariaDB) installDB(ctx context.Context, mariadbd, installDB string) error {
	// v1: bump when the mariadb-install-db flags below change.
	tpl := templatePath(templateKey("mariadb-v1", mariadbd))
	if err := os.Mkdir(m.DataDir, 0o750); err != nil {
		return fmt.Errorf("testenv: mariadb: %w", err)
	}
	if isDir(tpl) {
		if err := copyTree(tpl, m.DataDir); err == nil {
			return nil
		}
		os.RemoveAll(m.DataDir)
		if err := os.Mkdir(m.DataDir, 0o750); err != nil {
			return fmt.Errorf("testenv: mariadb: %w", err)
		}
	}
	args := []string{installDB,
		"--no-defaults",
		"--datadir=" + m.DataDir,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
		"--innodb-log-file-size=16M",
		"--innodb-buffer-pool-size=32M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if err := runLogged(ctx, m.LogDir, filepath.Join(m.LogDir, "install-db.log"), nil, args...); err != nil {
		return fmt.Errorf("testenv: mariadb-install-db: %w", err)
	}
	publishTemplate(m.DataDir, tpl)
	return nil
}

func (m *MariaDB) buildArgs(mariadbd string, extra []string) []string {
	args := []string{mariadbd,
		"--no-defaults",
		"--datadir=" + m.DataDir,
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=" + Host,
		"--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(m.LogDir, "mariadbd.pid"),
		"--skip-name-resolve",
		"--log-bin=" + filepath.Join(m.DataDir, "mysql-bin"),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--server-id=1",
		"--gtid-strict-mode=ON",
		// Speed over durability (a process crash loses nothing; an OS crash may).
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=0",
		"--sync-binlog=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return append(args, extra...)
}

// startLocked starts mariadbd with m.args and waits until it answers.
func (m *MariaDB) startLocked(ctx context.Context) error {
	p, err := startProc(m.LogDir, m.LogFile, nil, nil, m.args...)
	if err != nil {
		return fmt.Errorf("testenv: mariadb: %w", err)
	}
	m.srv.proc = p
	err = waitReady(ctx, "mariadb", p, m.LogFile, 50*time.Millisecond, m.ping)
	if err != nil {
		p.stop(syscall.SIGKILL, 0)
		m.srv.proc = nil
	}
	return err
}

// ping succeeds when the server answers on its private unix socket, even if
// it refuses the credentials (no password before setup; a test may change it).
func (m *MariaDB) ping(ctx context.Context) error {
	return pingSocket(ctx, m.Socket, MariaDBRootPassword)
}

// setup sets root's password (over the unix socket, where root has none yet).
func (m *MariaDB) setup(ctx context.Context) error {
	pw := MariaDBRootPassword
	return execOnSocket(ctx, m.Socket, "mariadb", []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE OR REPLACE USER 'root'@'%' IDENTIFIED BY '" + pw + "'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION",
		"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '" + pw + "'",
		"ALTER USER 'root'@'::1' IDENTIFIED BY '" + pw + "'",
		"ALTER USER 'root'@'localhost' IDENTIFIED BY '" + pw + "'",
	})
}

// RootDSN returns DSN("root", MariaDBRootPassword, db).
func (m *MariaDB) RootDSN(db string) string { return m.DSN("root", MariaDBRootPassword, db) }
