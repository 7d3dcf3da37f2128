package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartPostgresStandby starts a streaming physical standby of primary: a
// pg_basebackup of it (run with that major's pg_basebackup) through the
// physical replication slot slot, which it creates on primary. The standby
// is set up for PostgreSQL 17 failover slots: hot_standby_feedback and
// sync_replication_slots are on and primary_conninfo names a database, so
// it keeps synchronized copies of the primary's logical slots created with
// failover. extra entries are added to its postgresql.conf. Promote makes
// it a primary. Call Stop when done.
func StartPostgresStandby(ctx context.Context, primary *Postgres, slot string, extra map[string]string) (*Postgres, error) {
	basebackup := filepath.Join(primary.BinDir, "pg_basebackup")
	if _, err := os.Stat(basebackup); err != nil {
		return nil, notInstalled(fmt.Sprintf("PostgreSQL %d pg_basebackup", primary.Major), basebackup)
	}
	ctx, cancel := withDefaultTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := primary.execSocket(ctx, "SELECT pg_create_physical_replication_slot($1)", slot); err != nil {
		return nil, fmt.Errorf("testenv: postgres standby: %w", err)
	}
	dir, err := newServerDir("pgstandby")
	if err != nil {
		return nil, err
	}
	pg := &Postgres{
		Host:      Host,
		Major:     primary.Major,
		BinDir:    primary.BinDir,
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "postgres.log"),
		LogDir:    dir,
		SocketDir: dir,
		srv:       server{name: "postgres", dir: dir},
		cred:      primary.cred,
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
	// -R writes standby.signal and primary_conninfo (with the dbname that
	// slot synchronization needs) and primary_slot_name.
	conn := fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", primary.SocketDir, primary.Port)
	err = runLogged(ctx, pg.LogDir, filepath.Join(pg.LogDir, "basebackup.log"), pg.cred, basebackup,
		"-d", conn, "-D", pg.DataDir, "-X", "stream", "-S", slot, "-R", "--no-sync", "-c", "fast")
	if err != nil {
		return fail(fmt.Errorf("testenv: postgres standby: pg_basebackup: %w", err))
	}
	if pg.Port, err = freePort(); err != nil {
		return fail(err)
	}
	conf := map[string]string{
		"port":                    strconv.Itoa(pg.Port),
		"unix_socket_directories": pg.SocketDir,
		"hot_standby":             "on",
		"hot_standby_feedback":    "on",
	}
	if pg.Major >= 17 {
		conf["sync_replication_slots"] = "on"
	}
	for k, v := range extra {
		conf[k] = v
	}
	if err := pg.appendConf(conf); err != nil {
		return fail(err)
	}
	if err := pg.startRetryingPort(ctx); err != nil {
		return fail(err)
	}
	return pg, nil
}

// Promote ends recovery on a standby (pg_promote) and returns once it
// accepts writes.
func (pg *Postgres) Promote(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := pg.execSocket(ctx, "SELECT pg_promote(true, 60)"); err != nil {
		return fmt.Errorf("testenv: postgres promote: %w", err)
	}
	return nil
}

// Reconfigure sets settings with ALTER SYSTEM (which overrides what
// pg_basebackup -R wrote) and reloads the configuration.
func (pg *Postgres) Reconfigure(ctx context.Context, conf map[string]string) error {
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q := fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", pgx.Identifier{k}.Sanitize(), strings.ReplaceAll(conf[k], "'", "''"))
		if err := pg.execSocket(ctx, q); err != nil {
			return fmt.Errorf("testenv: postgres: %s: %w", q, err)
		}
	}
	return pg.execSocket(ctx, "SELECT pg_reload_conf()")
}

// execSocket runs one statement as the bootstrap superuser over the unix
// socket.
func (pg *Postgres) execSocket(ctx context.Context, sql string, args ...any) error {
	c, err := pgx.Connect(ctx, pg.socketDSN())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql, args...)
	return err
}
