package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresTLS configures TLS on a Postgres instance (EnableTLS).
type PostgresTLS struct {
	// CertPEM is the server certificate chain and KeyPEM its private key,
	// both PEM. The certificate should name 127.0.0.1 (an IP SAN) for
	// clients that verify the host, such as sslmode=verify-full.
	CertPEM, KeyPEM []byte
	// Require makes host (TCP) connections without TLS fail: every "host"
	// line of pg_hba.conf becomes "hostssl". Unix-socket connections stay
	// trusted, so SocketDSN keeps working for test setup.
	Require bool
}

// StartPostgresTLS is StartPostgres followed by EnableTLS.
func StartPostgresTLS(ctx context.Context, opts PostgresOptions, t PostgresTLS) (*Postgres, error) {
	pg, err := StartPostgres(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := pg.EnableTLS(ctx, t); err != nil {
		pg.Keep()
		_ = pg.Stop()
		return nil, err
	}
	return pg, nil
}

// EnableTLS writes the certificate and key into the instance directory
// (owned by the server's OS user, mode 0600, as Postgres demands of a key),
// turns ssl on, with t.Require rewrites pg_hba.conf to accept host
// connections only over TLS, and reloads the configuration. It returns once
// a TLS connection succeeds (and, with Require, a plaintext one is
// refused). The settings persist across Restart.
func (pg *Postgres) EnableTLS(ctx context.Context, t PostgresTLS) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	certFile := filepath.Join(pg.LogDir, "server.crt")
	keyFile := filepath.Join(pg.LogDir, "server.key")
	for _, f := range []struct {
		path string
		pem  []byte
	}{{certFile, t.CertPEM}, {keyFile, t.KeyPEM}} {
		if len(f.pem) == 0 {
			return fmt.Errorf("testenv: postgres tls: %s: empty PEM", filepath.Base(f.path))
		}
		if err := os.WriteFile(f.path, f.pem, 0o600); err != nil {
			return fmt.Errorf("testenv: postgres tls: %w", err)
		}
		if err := pg.chown(f.path); err != nil {
			return err
		}
	}
	if err := pg.appendConf(map[string]string{"ssl": "on", "ssl_cert_file": certFile, "ssl_key_file": keyFile}); err != nil {
		return err
	}
	if t.Require {
		if err := pg.requireHostSSL(); err != nil {
			return err
		}
	}
	c, err := pgx.Connect(ctx, pg.socketDSN())
	if err != nil {
		return fmt.Errorf("testenv: postgres tls: %w", err)
	}
	_, err = c.Exec(ctx, "SELECT pg_reload_conf()")
	_ = c.Close(context.Background())
	if err != nil {
		return fmt.Errorf("testenv: postgres tls: reload: %w", err)
	}
	// The reload is asynchronous: wait until new connections see it.
	tlsDSN := strings.Replace(pg.SuperuserDSN("postgres"), "sslmode=disable", "sslmode=require", 1)
	var last error
	for {
		last = probeTLS(ctx, tlsDSN, pg.SuperuserDSN("postgres"), t.Require)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: postgres tls not in effect: %w (last: %v); log %s:\n%s", ctx.Err(), last, pg.LogFile, tail(pg.LogFile, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probeTLS checks that a TLS connection works and, when require is set,
// that a plaintext one is refused.
func probeTLS(ctx context.Context, tlsDSN, plainDSN string, require bool) error {
	// sslmode=require fails while the server has ssl off.
	c, err := pgx.Connect(ctx, tlsDSN)
	if err != nil {
		return err
	}
	_ = c.Close(context.Background())
	if !require {
		return nil
	}
	if c, err := pgx.Connect(ctx, plainDSN); err == nil {
		_ = c.Close(context.Background())
		return fmt.Errorf("plaintext connections still accepted")
	}
	return nil
}

// requireHostSSL turns every "host" rule of pg_hba.conf into "hostssl".
func (pg *Postgres) requireHostSSL() error {
	path := filepath.Join(pg.DataDir, "pg_hba.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("testenv: postgres tls: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "host" {
			lines[i] = "hostssl" + strings.TrimPrefix(strings.TrimLeft(l, " \t"), "host")
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		return fmt.Errorf("testenv: postgres tls: %w", err)
	}
	return pg.chown(path)
}

// SocketDSN returns a key=value DSN for database db over the unix socket
// as the bootstrap superuser "postgres" (trust authentication, no TLS):
// usable for test setup whatever pg_hba.conf demands of host connections.
func (pg *Postgres) SocketDSN(db string) string {
	return strings.Replace(pg.socketDSN(), "dbname=postgres", "dbname="+db, 1)
}
