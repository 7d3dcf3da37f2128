package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestMySQLTLS: with source.tls {enabled, ca_file} Sluice snapshots and
// streams from a MariaDB whose user REQUIREs SSL (both the SQL and the
// binlog connection use TLS); with the wrong CA it exits 1 naming the
// certificate verification and the fix; without TLS the server refuses
// the user.
func TestMySQLTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := newTestCA(dir, "mysql-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := newTestCA(dir, "mysql-other-ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.issue("mysql-test-server")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, cert.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, cert.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := startCtx()
	defer cancel()
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{ExtraArgs: []string{
		"--ssl-cert=" + certFile, "--ssl-key=" + keyFile, "--ssl-ca=" + ca.file,
	}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, m)
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY, v varchar(20))")
	myExec(t, db, "INSERT INTO t VALUES (1, 'one')")
	myExec(t, db, "CREATE USER 'tlsuser'@'%' IDENTIFIED BY 'Tls-s3cret' REQUIRE SSL")
	myExec(t, db, "GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'tlsuser'@'%'")
	mySignalGrant(t, db, "tlsuser")
	var haveSSL string
	if err := db.QueryRowContext(context.Background(), "SELECT @@have_ssl").Scan(&haveSSL); err != nil || haveSSL != "YES" {
		t.Fatalf("setup: have_ssl = %q (%v); server log %s", haveSSL, err, m.LogFile)
	}
	dsn := m.DSN("tlsuser", "Tls-s3cret", "")
	name := testName(t)
	config := func(name, tlsLine string) string {
		c := myConfig(name, dsn, dbname, myServerID(), k, r, "")
		if tlsLine != "" {
			c = strings.Replace(c, "  mysql: {server_id", "  tls: "+tlsLine+"\n  mysql: {server_id", 1)
		}
		return c
	}

	t.Run("streams", func(t *testing.T) {
		cfg := harness.WriteConfig(t, config(name, "{enabled: true, ca_file: "+ca.file+"}"))
		p := harness.Start(t, nil, "run", "-c", cfg)
		p.WaitFor(context.Background(), "msg=streaming", 2*time.Minute)
		myExec(t, db, "INSERT INTO t VALUES (2, 'two')")
		myWaitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)
		rd := harness.NewReader(t, k.Brokers(), r.URL, name+"."+dbname+".t")
		got := map[int64]bool{}
		rd.ReadUntil(context.Background(), t, 60*time.Second, func(evs []harness.Event) bool {
			for _, e := range evs {
				got[harness.Int(e.Key, "id")] = true
			}
			return got[1] && got[2]
		})
		if !got[1] || !got[2] {
			t.Errorf("events for ids %v, want 1 (snapshot) and 2 (streamed)", got)
		}
		if code := p.Interrupt(60 * time.Second); code != 0 {
			t.Errorf("graceful stop exit code %d", code)
		}
		// sluice check and status connect the same way.
		code, lines := checkLines(t, config(name, "{enabled: true, ca_file: "+ca.file+"}"), nil)
		l := findLine(t, lines, "PASS mysql connection:")
		if code != 0 || !strings.Contains(l, "TLS") {
			t.Errorf("sluice check exit code %d, connection line %q:\n%s", code, l, strings.Join(lines, "\n"))
		}
	})

	t.Run("wrong_ca", func(t *testing.T) {
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c",
			harness.WriteConfig(t, config(name+"_wrongca", "{enabled: true, ca_file: "+other.file+"}")))
		if code != 1 || !strings.Contains(out, "TLS certificate verification failed") ||
			!strings.Contains(out, "fix: set source.tls.ca_file") || strings.Contains(out, "Tls-s3cret") {
			t.Errorf("exit code %d, want 1 naming the certificate verification (and no password); output:\n%s", code, out)
		}
		logRefusal(t, out)
		code, lines := checkLines(t, config(name+"_wrongca", "{enabled: true, ca_file: "+other.file+"}"), nil)
		l := findLine(t, lines, "FAIL mysql connection:")
		if code != 1 || !strings.Contains(l, "TLS certificate verification failed") {
			t.Errorf("sluice check exit code %d, line %q", code, l)
		}
		t.Log(l)
	})

	t.Run("plaintext_refused", func(t *testing.T) {
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, config(name+"_plain", "")))
		if code != 1 || !strings.Contains(out, "authentication failed") {
			t.Errorf("exit code %d, want 1 with the user refused; output:\n%s", code, out)
		}
		logRefusal(t, out)
	})
}
