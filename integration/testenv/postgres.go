package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL superuser created in every instance; used by SuperuserDSN.
// Host (TCP) connections authenticate with scram-sha-256, so a wrong password
// is rejected; unix-socket connections (socket in SocketDir) are trusted.
const (
	PostgresSuperuser         = "sluice_admin"
	PostgresSuperuserPassword = "admin"
)

// PostgresMajor is the default PostgreSQL major: Debian's postgresql-15.
const PostgresMajor = 15

// PostgresMajors are the PostgreSQL majors scripts/install-deps.sh installs:
// the default, PostgresMajor, and those of the compatibility matrix
// (scripts/install-postgres.sh).
var PostgresMajors = []int{14, 15, 16, 17, 18}

// PostgresBinDir returns the directory of the PostgreSQL 15 server binaries:
// $SLUICE_PG_BINDIR or /usr/lib/postgresql/15/bin (Debian's postgresql-15).
func PostgresBinDir() string {
	if d := os.Getenv("SLUICE_PG_BINDIR"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// PostgresBinDirFor returns the directory of the server binaries of a
// PostgreSQL major: PostgresBinDir for PostgresMajor (or 0), otherwise
// <root>/postgresql-<major>/bin as scripts/install-postgres.sh unpacks it,
// where root is $SLUICE_PG_ROOT, else /opt/sluice-test when running as root
// (the server runs as the OS user postgres, who cannot enter root's home),
// else Cache().
func PostgresBinDirFor(major int) string {
	if major == 0 || major == PostgresMajor {
		return PostgresBinDir()
	}
	root := os.Getenv("SLUICE_PG_ROOT")
	switch {
	case root != "":
	case os.Geteuid() == 0:
		root = "/opt/sluice-test"
	default:
		root = Cache()
	}
	return filepath.Join(root, fmt.Sprintf("postgresql-%d", major), "bin")
}

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// ExtraConf entries are written to postgresql.conf after the defaults
	// and so override them, e.g. {"wal_level": "replica"}.
	ExtraConf map[string]string
	// Major is the PostgreSQL major to start, one of PostgresMajors;
	// 0 means PostgresMajor.
	Major int
}

// Postgres is a private PostgreSQL server listening on Host:Port.
type Postgres struct {
	Host      string // always 127.0.0.1
	Port      int
	Major     int    // the PostgreSQL major running
	BinDir    string // its server binaries
	DataDir   string
	LogFile   string // server log (stderr of the postmaster)
	LogDir    string // the instance's temporary directory (data, socket, logs)
	SocketDir string // unix socket directory (trust auth)

	srv  server
	cred *syscall.Credential
}

// StartPostgres initializes a fresh cluster of opts.Major in a new temporary directory and
// starts it as the postgres OS user (when running as root): wal_level=logical,
// max_wal_senders=10, max_replication_slots=10, fsync=off, listening on
// 127.0.0.1 only. It returns once the server accepts connections and the
// superuser PostgresSuperuser exists. Call Stop when done.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	major := opts.Major
	if major == 0 {
		major = PostgresMajor
	}
	bin := PostgresBinDirFor(major)
	for _, b := range []string{"postgres", "initdb"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, notInstalled(fmt.Sprintf("PostgreSQL %d %s", major, b), filepath.Join(bin, b))
		}
	}
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()

	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := newServerDir("pg")
	if err != nil {
		return nil, err
	}
	pg := &Postgres{
		Host:      Host,
		Major:     major,
		BinDir:    bin,
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "postgres.log"),
		LogDir:    dir,
		SocketDir: dir,
		srv:       server{name: "postgres", dir: dir},
		cred:      cred,
	}
	fail := func(err error) (*Postgres, error) {
		pg.srv.mu.Lock()
		_ = pg.srv.finish(syscall.SIGINT, 10*time.Second)
		pg.srv.mu.Unlock()
		return nil, err
	}
	if err := pg.chown(dir); err != nil {
		return fail(err)
	}
	if err := pg.initdb(ctx); err != nil {
		return fail(err)
	}
	if pg.Port, err = freePort(); err != nil {
		return fail(err)
	}
	if err := pg.writeConf(opts.ExtraConf); err != nil {
		return fail(err)
	}
	if err := pg.startRetryingPort(ctx); err != nil {
		return fail(err)
	}
	if err := pg.createSuperuser(ctx); err != nil {
		return fail(err)
	}
	return pg, nil
}

func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil // postgres runs as the current (non-root) user
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, notInstalled("OS user postgres", err.Error())
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func (pg *Postgres) chown(path string) error {
	if pg.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	return nil
}

// initdb fills DataDir, from the cached template when there is one.
func (pg *Postgres) initdb(ctx context.Context) error {
	bin := pg.BinDir
	// v1: bump when the initdb flags below change.
	tpl := templatePath(templateKey(fmt.Sprintf("pg%d-v1", pg.Major), filepath.Join(bin, "postgres")))
	if err := os.Mkdir(pg.DataDir, 0o700); err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	if err := pg.chown(pg.DataDir); err != nil {
		return err
	}
	if isDir(tpl) {
		if err := copyTree(tpl, pg.DataDir); err == nil {
			return nil
		}
		// Broken template: fall back to initdb.
		os.RemoveAll(pg.DataDir)
		if err := os.Mkdir(pg.DataDir, 0o700); err != nil {
			return fmt.Errorf("testenv: postgres: %w", err)
		}
		if err := pg.chown(pg.DataDir); err != nil {
			return err
		}
	}
	err := runLogged(ctx, pg.LogDir, filepath.Join(pg.LogDir, "initdb.log"), pg.cred,
		filepath.Join(bin, "initdb"),
		"-D", pg.DataDir,
		"-U", "postgres",
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C.UTF-8",
		"--no-sync",
	)
	if err != nil {
		return fmt.Errorf("testenv: postgres initdb: %w", err)
	}
	publishTemplate(pg.DataDir, tpl)
	return nil
}

func (pg *Postgres) writeConf(extra map[string]string) error {
	conf := map[string]string{
		"listen_addresses":        Host,
		"port":                    strconv.Itoa(pg.Port),
		"unix_socket_directories": pg.SocketDir,
		"wal_level":               "logical",
		"max_wal_senders":         "10",
		"max_replication_slots":   "10",
		// Speed: skip fsync (safe against a process crash such as Kill,
		// not an OS crash). synchronous_commit stays on: with it off, a
		// Kill could lose transactions that were reported committed.
		"fsync":             "off",
		"full_page_writes":  "off",
		"shared_buffers":    "64MB",
		"logging_collector": "off",
		"log_line_prefix":   "%m [%p] %q%u@%d ",
	}
	if err := pg.appendConf(conf); err != nil {
		return err
	}
	if len(extra) > 0 {
		return pg.appendConf(extra)
	}
	return nil
}

// appendConf appends settings to postgresql.conf (later lines win).
func (pg *Postgres) appendConf(conf map[string]string) error {
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# testenv\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(conf[k], "'", "''"))
	}
	f, err := os.OpenFile(filepath.Join(pg.DataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	return nil
}

// startLocked starts the postmaster and waits until it accepts connections.
func (pg *Postgres) startLocked(ctx context.Context) error {
	p, err := startProc(pg.LogDir, pg.LogFile, pg.cred, nil,
		filepath.Join(pg.BinDir, "postgres"), "-D", pg.DataDir)
	if err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	pg.srv.proc = p
	err = waitReady(ctx, "postgres", p, pg.LogFile, 50*time.Millisecond, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, pg.socketDSN())
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		p.stop(syscall.SIGQUIT, time.Second)
		pg.srv.proc = nil
	}
	return err
}

// socketDSN connects over the unix socket as the bootstrap superuser
// "postgres" (trust authentication).
func (pg *Postgres) socketDSN() string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=5", pg.SocketDir, pg.Port)
}

func (pg *Postgres) createSuperuser(ctx context.Context) error {
	c, err := pgx.Connect(ctx, pg.socketDSN())
	if err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH SUPERUSER CREATEDB CREATEROLE REPLICATION LOGIN PASSWORD '%s'",
		PostgresSuperuser, PostgresSuperuserPassword))
	if err != nil {
		return fmt.Errorf("testenv: postgres: create superuser: %w", err)
	}
	return nil
}

// Addr returns "127.0.0.1:port".
func (pg *Postgres) Addr() string { return net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)) }

// DSN returns a postgres:// URL for user/password on database db over TCP
// (sslmode=disable).
func (pg *Postgres) DSN(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     pg.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// SuperuserDSN returns DSN(PostgresSuperuser, PostgresSuperuserPassword, db).
func (pg *Postgres) SuperuserDSN(db string) string {
	return pg.DSN(PostgresSuperuser, PostgresSuperuserPassword, db)
}

// Restart stops the server (fast shutdown; or nothing, after Kill) and starts
// it again on the same data directory and port.
func (pg *Postgres) Restart(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	pg.srv.mu.Lock()
	defer pg.srv.mu.Unlock()
	if pg.srv.stopped {
		return fmt.Errorf("testenv: postgres already stopped")
	}
	pg.srv.proc.stop(syscall.SIGINT, 30*time.Second)
	pg.srv.proc = nil
	return pg.startLocked(ctx)
}

// Kill SIGKILLs the postmaster and all its backends (a crash). The data
// directory stays; Restart starts the server again with crash recovery.
func (pg *Postgres) Kill() error {
	pg.srv.mu.Lock()
	defer pg.srv.mu.Unlock()
	return pg.srv.killLocked()
}

// Keep makes Stop keep LogDir (data and logs) instead of removing it.
func (pg *Postgres) Keep() { pg.srv.setKeep() }

// Stop shuts the server down (fast shutdown, SIGKILL after 30s) and removes
// LogDir unless Keep was called or SLUICE_KEEP_LOGS=1. Safe to call twice.
func (pg *Postgres) Stop() error {
	pg.srv.mu.Lock()
	defer pg.srv.mu.Unlock()
	return pg.srv.finish(syscall.SIGINT, 30*time.Second)
}

// startRetryingPort starts the server, moving it to another free port when
// the one in its configuration was taken meanwhile.
func (pg *Postgres) startRetryingPort(ctx context.Context) error {
	pg.srv.mu.Lock()
	defer pg.srv.mu.Unlock()
	return startWithPortRetry(func() error { return pg.startLocked(ctx) }, pg.LogFile, func() error {
		p, err := freePort()
		if err != nil {
			return err
		}
		pg.Port = p
		return pg.appendConf(map[string]string{"port": strconv.Itoa(p)})
	})
}
