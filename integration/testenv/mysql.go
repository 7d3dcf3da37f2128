package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MySQLRootPassword is the password of root (root@'%', root@localhost) in
// every MySQL instance.
const MySQLRootPassword = "root"

// MySQLOptions configures StartMySQL.
type MySQLOptions struct {
	// Series is the version to run: the install in
	// $SLUICE_CACHE/mysql-<Series> (scripts/install-mysql.sh), "9" (the
	// default) or "8.0".
	Series string
	// ServerID is @@server_id (default 1); a replica needs its own.
	ServerID int
	// ExtraArgs are appended to the mysqld command line after the defaults
	// and so override them.
	ExtraArgs []string
}

// MySQL is a private MySQL server listening on Host:Port with the binary log
// on (ROW format, FULL row image and metadata) and GTIDs on
// (gtid_mode=ON, enforce_gtid_consistency=ON).
type MySQL struct {
	mysqlServer
	DataDir string
	LogFile string // server log (mysqld stderr)
	LogDir  string // the instance's temporary directory
	Socket  string // unix socket path
	Version string // e.g. "9.7.4", from the install's version file

	args []string
}

// mysqlInstall is one server that scripts/install-mysql.sh put into
// $SLUICE_CACHE/<flavor>-<series>: the server under root/usr, run through
// the root's own dynamic loader and libraries when it has them (a Debian
// suite newer than this machine's), else directly.
type mysqlInstall struct {
	root, version string
}

// findInstall returns the install of flavor ("mysql" or "mariadb") and
// series ("9", "8.0", "11.8").
func findInstall(flavor, series string) (mysqlInstall, error) {
	dir := filepath.Join(Cache(), flavor+"-"+series)
	what := flavor + " " + series
	if !fileExists(filepath.Join(dir, ".complete")) {
		return mysqlInstall{}, notInstalled(what+" (scripts/install-mysql.sh)", dir)
	}
	v, err := os.ReadFile(filepath.Join(dir, "version"))
	if err != nil {
		return mysqlInstall{}, notInstalled(what+" version file", dir)
	}
	return mysqlInstall{root: filepath.Join(dir, "root"), version: strings.TrimSpace(string(v))}, nil
}

func findMySQL(series string) (mysqlInstall, error) { return findInstall("mysql", series) }

// MySQLVersion returns the version of the MySQL installed for series, or an
// error wrapping ErrNotInstalled.
func MySQLVersion(series string) (string, error) {
	in, err := findMySQL(series)
	return in.version, err
}

// command returns argv running the install's binary bin (e.g. usr/sbin/mysqld).
func (in mysqlInstall) command(bin string, args ...string) []string {
	loader := filepath.Join(in.root, "usr/lib64/ld-linux-x86-64.so.2")
	var argv []string
	if fileExists(loader) {
		libs := filepath.Join(in.root, "usr/lib/x86_64-linux-gnu") + ":" + filepath.Join(in.root, "lib/x86_64-linux-gnu")
		argv = []string{loader, "--library-path", libs}
	}
	argv = append(argv, filepath.Join(in.root, bin))
	return append(argv, args...)
}

// atLeast tells whether the install's version is min or later (versions
// of the form 8.0.15).
func (in mysqlInstall) atLeast(min string) bool { return versionAtLeast(in.version, min) }

func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range b {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		y, _ = strconv.Atoi(b[i])
		if x != y {
			return x > y
		}
	}
	return true
}

func (in mysqlInstall) common(datadir, dir string) []string {
	args := []string{
		"--no-defaults",
		"--basedir=" + filepath.Join(in.root, "usr"),
		"--lc-messages-dir=" + filepath.Join(in.root, "usr/share/mysql"),
		"--plugin-dir=" + filepath.Join(in.root, "usr/lib/mysql/plugin"),
		"--datadir=" + datadir,
		"--secure-file-priv=" + dir,
		"--innodb-buffer-pool-size=64M",
	}
	if in.atLeast("8.0.30") {
		args = append(args, "--innodb-redo-log-capacity=16M")
	} else {
		args = append(args, "--innodb-log-file-size=8M") // two files
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return args
}

// StartMySQL initializes a fresh data directory (with its own server_uuid)
// in a new temporary directory and starts mysqld on a free loopback port.
// root's password is MySQLRootPassword. The setup statements run with
// sql_log_bin=0, so gtid_executed starts empty. Call Stop when done.
func StartMySQL(ctx context.Context, opts MySQLOptions) (*MySQL, error) {
	if opts.Series == "" {
		opts.Series = "9"
	}
	if opts.ServerID == 0 {
		opts.ServerID = 1
	}
	in, err := findMySQL(opts.Series)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, 120*time.Second)
	defer cancel()

	dir, err := newServerDir("mysql")
	if err != nil {
		return nil, err
	}
	m := &MySQL{
		mysqlServer: mysqlServer{Host: Host, srv: server{name: "mysql " + in.version, dir: dir}, stopWait: 60 * time.Second},
		DataDir:     filepath.Join(dir, "data"),
		LogFile:     filepath.Join(dir, "mysql.log"),
		LogDir:      dir,
		Socket:      filepath.Join(dir, "mysqld.sock"),
		Version:     in.version,
	}
	m.start = m.startLocked
	fail := func(err error) (*MySQL, error) {
		m.srv.mu.Lock()
		_ = m.srv.finish(syscall.SIGTERM, 10*time.Second)
		m.srv.mu.Unlock()
		return nil, err
	}
	if err := m.initialize(ctx, in); err != nil {
		return fail(err)
	}
	if m.Port, err = freePort(); err != nil {
		return fail(err)
	}
	m.srv.mu.Lock()
	err = startWithPortRetry(func() error {
		m.args = m.buildArgs(in, opts)
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

// initialize makes the data directory: a copy of the cached template, or
// mysqld --initialize-insecure (then cached). auto.cnf, which holds
// @@server_uuid, is not kept: every server gets its own identity.
func (m *MySQL) initialize(ctx context.Context, in mysqlInstall) error {
	mysqld := filepath.Join(in.root, "usr/sbin/mysqld")
	// v1: bump when the initialize flags below change.
	tpl := templatePath(templateKey("mysql-v1", mysqld))
	if isDir(tpl) {
		if err := os.Mkdir(m.DataDir, 0o750); err != nil {
			return fmt.Errorf("testenv: mysql: %w", err)
		}
		if err := copyTree(tpl, m.DataDir); err == nil {
			return nil
		}
		os.RemoveAll(m.DataDir)
	}
	// mysqld --initialize wants a data directory that does not exist yet.
	args := in.command("usr/sbin/mysqld", append(in.common(m.DataDir, m.LogDir), "--initialize-insecure")...)
	if err := runLogged(ctx, m.LogDir, filepath.Join(m.LogDir, "initialize.log"), nil, args...); err != nil {
		return fmt.Errorf("testenv: mysqld --initialize-insecure: %w", err)
	}
	_ = os.Remove(filepath.Join(m.DataDir, "auto.cnf"))
	publishTemplate(m.DataDir, tpl)
	return nil
}

func (m *MySQL) buildArgs(in mysqlInstall, opts MySQLOptions) []string {
	args := in.command("usr/sbin/mysqld", in.common(m.DataDir, m.LogDir)...)
	args = append(args,
		"--port="+strconv.Itoa(m.Port),
		"--bind-address="+Host,
		"--socket="+m.Socket,
		"--pid-file="+filepath.Join(m.LogDir, "mysqld.pid"),
		"--mysqlx=OFF",
		"--skip-name-resolve",
		"--log-bin="+filepath.Join(m.DataDir, "mysql-bin"),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--server-id="+strconv.Itoa(opts.ServerID),
		"--gtid-mode=ON",
		"--enforce-gtid-consistency=ON",
		// Speed over durability (a process crash loses nothing; an OS crash may).
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=OFF",
		"--sync-binlog=0",
		"--performance-schema=OFF",
		"--character-set-server=utf8mb4",
	)
	return append(args, opts.ExtraArgs...)
}

// startLocked starts mysqld with m.args and waits until it answers.
func (m *MySQL) startLocked(ctx context.Context) error {
	p, err := startProc(m.LogDir, m.LogFile, nil, nil, m.args...)
	if err != nil {
		return fmt.Errorf("testenv: mysql: %w", err)
	}
	m.srv.proc = p
	err = waitReady(ctx, m.srv.name, p, m.LogFile, 100*time.Millisecond, m.ping)
	if err != nil {
		p.stop(syscall.SIGKILL, 0)
		m.srv.proc = nil
	}
	return err
}

// ping succeeds when the server answers on its unix socket, even if it
// refuses the credentials.
func (m *MySQL) ping(ctx context.Context) error { return pingSocket(ctx, m.Socket, MySQLRootPassword) }

// setup sets root's password and lets root connect over TCP.
func (m *MySQL) setup(ctx context.Context) error {
	pw := MySQLRootPassword
	return execOnSocket(ctx, m.Socket, "mysql", []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE USER 'root'@'%' IDENTIFIED BY '" + pw + "'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION",
		"ALTER USER 'root'@'localhost' IDENTIFIED BY '" + pw + "'",
	})
}

// RootDSN returns DSN("root", MySQLRootPassword, db).
func (m *MySQL) RootDSN(db string) string { return m.DSN("root", MySQLRootPassword, db) }
