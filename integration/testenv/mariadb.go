package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MariaDBRootPassword is the password of root (root@'%', root@localhost,
// root@127.0.0.1) in every MariaDB instance.
const MariaDBRootPassword = "root"

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// Series is the release series to run: "" (the default) for Debian
	// 12's MariaDB 10.11 installed in the system, or the install in
	// $SLUICE_CACHE/mariadb-<Series> (scripts/install-mysql.sh), "11.8".
	Series string
	// ExtraArgs are appended to the mariadbd command line after the
	// defaults and so override them, e.g. "--binlog-format=STATEMENT" or
	// "--skip-log-bin" for misconfiguration tests.
	ExtraArgs []string
}

// MariaDB is a private MariaDB server (10.11 unless MariaDBOptions.Series
// says otherwise) listening on Host:Port with the
// binary log on (ROW format, FULL row image and metadata, server_id=1,
// gtid_strict_mode=ON).
type MariaDB struct {
	mysqlServer
	DataDir string
	LogFile string // server log (mariadbd stderr)
	LogDir  string // the instance's temporary directory
	Socket  string // unix socket path

	bin  mariadbBin
	args []string
}

// mariadbBin is how to run one MariaDB: the system's, initialized by
// mariadb-install-db, or an install of scripts/install-mysql.sh,
// initialized by mariadbd --bootstrap with the install's SQL scripts.
type mariadbBin struct {
	mariadbd  string   // the binary (its size and time key the data directory template)
	argv      []string // runs mariadbd
	paths     []string // the install's directories, as mariadbd options
	installDB string   // the system's mariadb-install-db
	share     string   // the install's SQL scripts and messages
	template  string   // the template key's prefix
	name      string   // names the server in errors
}

// MariaDBVersion returns the version of the MariaDB installed for series
// by scripts/install-mysql.sh, or an error wrapping ErrNotInstalled.
func MariaDBVersion(series string) (string, error) {
	in, err := findInstall("mariadb", series)
	return in.version, err
}

func mariadbBinaries(series string) (mariadbBin, error) {
	if series != "" {
		in, err := findInstall("mariadb", series)
		if err != nil {
			return mariadbBin{}, err
		}
		share := filepath.Join(in.root, "usr/share/mariadb")
		return mariadbBin{
			mariadbd: filepath.Join(in.root, "usr/sbin/mariadbd"),
			argv:     in.command("usr/sbin/mariadbd"),
			paths: []string{
				"--basedir=" + filepath.Join(in.root, "usr"),
				"--lc-messages-dir=" + share,
				"--character-sets-dir=" + filepath.Join(share, "charsets"),
				"--plugin-dir=" + filepath.Join(in.root, "usr/lib/mysql/plugin"),
			},
			share: share,
			// v1: bump when the bootstrap flags or scripts below change.
			template: "mariadb-" + series + "-v1",
			name:     "mariadb " + in.version,
		}, nil
	}
	mariadbd := "/usr/sbin/mariadbd"
	if _, err := os.Stat(mariadbd); err != nil {
		if mariadbd, err = exec.LookPath("mariadbd"); err != nil {
			return mariadbBin{}, notInstalled("mariadbd (package mariadb-server)", "/usr/sbin/mariadbd")
		}
	}
	installDB, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		return mariadbBin{}, notInstalled("mariadb-install-db (package mariadb-server)", "$PATH")
	}
	// v1: bump when the mariadb-install-db flags below change.
	return mariadbBin{mariadbd: mariadbd, argv: []string{mariadbd}, installDB: installDB, template: "mariadb-v1", name: "mariadb"}, nil
}

// StartMariaDB initializes a fresh data directory in a new temporary
// directory and starts mariadbd on a free loopback port. root's password is
// MariaDBRootPassword over TCP and the socket. The setup statements run with
// sql_log_bin=0, so the binary log starts empty of user events. Call Stop
// when done.
func StartMariaDB(ctx context.Context, opts MariaDBOptions) (*MariaDB, error) {
	bin, err := mariadbBinaries(opts.Series)
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
		mysqlServer: mysqlServer{Host: Host, srv: server{name: bin.name, dir: dir}, stopWait: 30 * time.Second},
		DataDir:     filepath.Join(dir, "data"),
		LogFile:     filepath.Join(dir, "mariadb.log"),
		LogDir:      dir,
		Socket:      filepath.Join(dir, "mysqld.sock"),
		bin:         bin,
	}
	m.start = m.startLocked
	fail := func(err error) (*MariaDB, error) {
		m.srv.mu.Lock()
		_ = m.srv.finish(syscall.SIGTERM, 10*time.Second)
		m.srv.mu.Unlock()
		return nil, err
	}
	if err := m.installDB(ctx); err != nil {
		return fail(err)
	}
	if m.Port, err = freePort(); err != nil {
		return fail(err)
	}
	m.srv.mu.Lock()
	err = startWithPortRetry(func() error {
		m.args = m.buildArgs(opts.ExtraArgs)
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

func (m *MariaDB) installDB(ctx context.Context) error {
	tpl := templatePath(templateKey(m.bin.template, m.bin.mariadbd))
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
	if m.bin.installDB == "" {
		if err := m.bootstrap(ctx); err != nil {
			return err
		}
		publishTemplate(m.DataDir, tpl)
		return nil
	}
	args := []string{m.bin.installDB,
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

// bootstrap creates the system tables as mariadb-install-db does (root
// with a password, not unix_socket authentication; no test database): the
// install's SQL scripts through mariadbd --bootstrap.
func (m *MariaDB) bootstrap(ctx context.Context) error {
	var sql strings.Builder
	sql.WriteString("CREATE DATABASE IF NOT EXISTS mysql;\nUSE mysql;\nSET @auth_root_socket=NULL;\n")
	for _, f := range []string{"mariadb_system_tables.sql", "mariadb_performance_tables.sql", "mariadb_system_tables_data.sql",
		"fill_help_tables.sql", "maria_add_gis_sp_bootstrap.sql", "mariadb_sys_schema.sql"} {
		b, err := os.ReadFile(filepath.Join(m.bin.share, f))
		if err != nil {
			return fmt.Errorf("testenv: mariadb bootstrap: %w (scripts/install-mysql.sh)", err)
		}
		// As mariadb-install-db with --skip-name-resolve: no host name.
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if !strings.Contains(l, "@current_hostname") {
				sql.WriteString(l)
			}
		}
		sql.WriteString("\n")
	}
	args := append(slices.Clone(m.bin.argv), "--no-defaults")
	args = append(args, m.bin.paths...)
	args = append(args,
		"--bootstrap",
		"--datadir="+m.DataDir,
		"--log-warnings=0",
		"--enforce-storage-engine=",
		"--skip-name-resolve",
		"--max-allowed-packet=8M",
		"--net-buffer-length=16K",
		"--innodb-log-file-size=16M",
		"--innodb-buffer-pool-size=32M",
	)
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if err := runLoggedInput(ctx, m.LogDir, filepath.Join(m.LogDir, "bootstrap.log"), nil, strings.NewReader(sql.String()), args...); err != nil {
		return fmt.Errorf("testenv: mariadbd --bootstrap: %w", err)
	}
	return nil
}

func (m *MariaDB) buildArgs(extra []string) []string {
	args := append(slices.Clone(m.bin.argv), "--no-defaults")
	args = append(args, m.bin.paths...)
	args = append(args,
		"--datadir="+m.DataDir,
		"--port="+strconv.Itoa(m.Port),
		"--bind-address="+Host,
		"--socket="+m.Socket,
		"--pid-file="+filepath.Join(m.LogDir, "mariadbd.pid"),
		"--skip-name-resolve",
		"--log-bin="+filepath.Join(m.DataDir, "mysql-bin"),
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
	)
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
	err = waitReady(ctx, m.srv.name, p, m.LogFile, 50*time.Millisecond, m.ping)
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
