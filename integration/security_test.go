package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// The secrets of the security tests. Each is distinctive, so that finding
// it anywhere in Sluice's output can only mean it was printed; the wrong
// ones are secrets too (an operator's typo is often one character off).
const (
	secPGUser        = "sluice_sec"
	secPGPassword    = "pgpw-Qx7Lm2Vd"
	secPGWrong       = "pgpw-Wrong9Tz"
	secKafkaUser     = "sluice"
	secKafkaPassword = "saslpw-Kp4Wd8Rn"
	secKafkaWrong    = "saslpw-Wrong3Hb"
	secRegUser       = "sluice"
	secRegPassword   = "regpw-Hv3Tn6Ys"
	secRegWrong      = "regpw-Wrong5Jc"
)

var allSecrets = []string{secPGPassword, secPGWrong, secKafkaPassword, secKafkaWrong, secRegPassword, secRegWrong}

// ------------------------------------------------------------ certificates --

// testCA is a certificate authority made for one test binary.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(dir, name string) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key, file: file}, nil
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// serverCert is a certificate and its key, PEM and parsed.
type serverCert struct {
	certPEM, keyPEM []byte // key in PKCS#8, as Kafka's PEM key store wants
	tls             tls.Certificate
}

// issue returns a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) issue(name string) (*serverCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	sc := &serverCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	}
	sc.tls, err = tls.X509KeyPair(sc.certPEM, sc.keyPEM)
	return sc, err
}

// ----------------------------------------------------------- environment --

// secure holds the servers of the security tests, started on first use and
// shared by them: a Postgres that accepts host connections only over TLS,
// a Kafka broker with a SASL_SSL (SCRAM-SHA-512) listener besides
// PLAINTEXT (the registry is the shared one: secureRegistry). ca signed
// every server certificate; otherCA signed none (the "wrong CA"). Guarded
// by shared.mu.
var secure struct {
	ca      *testCA
	otherCA *testCA
	cert    *serverCert
	pg      *testenv.Postgres
	kafka   *testenv.SecureKafka
}

func secureCerts(t testing.TB) {
	t.Helper()
	if secure.ca != nil {
		return
	}
	dir, err := os.MkdirTemp("", "sluice-security-")
	if err != nil {
		t.Fatal(err)
	}
	shared.stops = append(shared.stops, func() error { return os.RemoveAll(dir) })
	ca, err := newTestCA(dir, "sluice-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := newTestCA(dir, "other-ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.issue("sluice-test-server")
	if err != nil {
		t.Fatal(err)
	}
	secure.ca, secure.otherCA, secure.cert = ca, other, cert
}

// securePostgres returns the TLS-only Postgres, with the role secPGUser.
func securePostgres(t testing.TB) *testenv.Postgres {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	secureCerts(t)
	if secure.pg == nil {
		ctx, cancel := startCtx()
		defer cancel()
		pg, err := testenv.StartPostgresTLS(ctx, testenv.PostgresOptions{},
			testenv.PostgresTLS{CertPEM: secure.cert.certPEM, KeyPEM: secure.cert.keyPEM, Require: true})
		if err != nil {
			t.Fatal(err)
		}
		shared.stops = append(shared.stops, pg.Stop)
		c, err := pgx.Connect(ctx, pg.SocketDSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH SUPERUSER LOGIN PASSWORD '%s'", secPGUser, secPGPassword)); err != nil {
			t.Fatal(err)
		}
		secure.pg = pg
	}
	return secure.pg
}

// secureKafka returns the broker with the SASL_SSL listener and the SCRAM
// user secKafkaUser.
func secureKafka(t testing.TB) *testenv.SecureKafka {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	secureCerts(t)
	if secure.kafka == nil {
		ctx, cancel := startCtx()
		defer cancel()
		k, err := testenv.StartSecureKafka(ctx, testenv.SecureKafkaOptions{CertPEM: secure.cert.certPEM, KeyPEM: secure.cert.keyPEM})
		if err != nil {
			t.Fatal(err)
		}
		shared.stops = append(shared.stops, k.Stop)
		if err := k.AddSCRAMUser(ctx, secKafkaUser, secKafkaPassword, secure.ca.pem()); err != nil {
			t.Fatal(err)
		}
		secure.kafka = k
	}
	return secure.kafka
}

// secureRegistry returns the shared registry, starting it without the
// shared broker when no other test did: this registry keeps no state in
// Kafka.
func secureRegistry(t testing.TB) *testenv.Registry {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.reg == nil {
		ctx, cancel := startCtx()
		defer cancel()
		r, err := testenv.StartRegistry(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		shared.reg = r
		shared.stops = append(shared.stops, r.Stop)
	}
	return shared.reg
}

// registryProxy is an HTTPS reverse proxy in front of the registry that
// demands HTTP basic authentication, as a registry with authentication
// configured would (Apicurio's own authentication needs an OIDC server).
type registryProxy struct {
	URL        string // https://127.0.0.1:port/apis/ccompat/v7
	authorized atomic.Int64
	rejected   atomic.Int64
}

func startRegistryProxy(t testing.TB, upstream *testenv.Registry, cert tls.Certificate, user, password string) *registryProxy {
	t.Helper()
	up, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &registryProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: up.Scheme, Host: up.Host})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, pw, ok := r.BasicAuth()
		if !ok || u != user || pw != password {
			p.rejected.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
			return
		}
		p.authorized.Add(1)
		r.Header.Del("Authorization")
		rp.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Handshakes that clients with the wrong CA abort are expected.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.URL = srv.URL + up.Path
	return p
}

// -------------------------------------------------------------- configs --

// secConfig is one Sluice configuration of the security tests. Empty
// sections are left out.
type secConfig struct {
	name      string
	logFormat string // text (default) or json
	dsn       string
	sourceTLS string // YAML flow map, e.g. {enabled: true, ca_file: /x}
	brokers   []string
	kafkaTLS  string
	kafkaSASL string
	registry  string // URL
	regUser   string
	regPWFile string
	regTLS    string
}

func (c secConfig) yaml() string {
	var b strings.Builder
	format := c.logFormat
	if format == "" {
		format = "text"
	}
	fmt.Fprintf(&b, "name: %s\nlog: {level: debug, format: %s}\n", c.name, format)
	fmt.Fprintf(&b, "source:\n  type: postgres\n  dsn: %q\n  postgres: {heartbeat_interval: 1s, status_interval: 1s}\n", c.dsn)
	if c.sourceTLS != "" {
		fmt.Fprintf(&b, "  tls: %s\n", c.sourceTLS)
	}
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  delivery_timeout: 30s\n", strings.Join(c.brokers, ", "))
	if c.kafkaTLS != "" {
		fmt.Fprintf(&b, "  tls: %s\n", c.kafkaTLS)
	}
	if c.kafkaSASL != "" {
		fmt.Fprintf(&b, "  sasl: %s\n", c.kafkaSASL)
	}
	fmt.Fprintf(&b, "schema_registry:\n  url: %s\n", c.registry)
	if c.regUser != "" {
		fmt.Fprintf(&b, "  username: %s\n  password_file: %s\n", c.regUser, c.regPWFile)
	}
	if c.regTLS != "" {
		fmt.Fprintf(&b, "  tls: %s\n", c.regTLS)
	}
	b.WriteString("http:\n  listen: \"\"\ncheckpoint:\n  interval: 200ms\n")
	return b.String()
}

// tlsWith returns a TLS section trusting the CA in caFile.
func tlsWith(caFile string) string { return fmt.Sprintf("{enabled: true, ca_file: %s}", caFile) }

// pgURL returns a postgres:// URL to the secure instance's database db.
func pgURL(pg *testenv.Postgres, password, db string, params string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(secPGUser, password), Host: pg.Addr(), Path: "/" + db, RawQuery: params}
	return u.String()
}

// secureDB creates a fresh database on the secure Postgres (over the unix
// socket) with a table t, and returns its name and a connection.
func secureDB(t testing.TB, pg *testenv.Postgres) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	name := testName(t)
	admin, err := pgx.Connect(ctx, pg.SocketDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, pg.SocketDSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close(context.Background())
		if a, err := pgx.Connect(context.Background(), pg.SocketDSN("postgres")); err == nil {
			_, _ = a.Exec(context.Background(), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
			a.Close(context.Background())
		}
	})
	exec(t, conn, `CREATE TABLE t (id int PRIMARY KEY, note text)`)
	exec(t, conn, `INSERT INTO t VALUES (1, 'before')`)
	return name, conn
}

// writeSecret writes a password file (with the trailing newline editors
// add) into dir.
func writeSecret(t testing.TB, dir, name, secret string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// streamed checks that a running Sluice streams: it waits for the
// snapshot (read while streaming) to be done, inserts a row, reads the snapshot row and the insert back over the
// broker's PLAINTEXT listener, then stops Sluice gracefully.
func streamed(t *testing.T, p *harness.Process, db *pgx.Conn, k *testenv.Kafka, registryURL, topic string, id int) {
	t.Helper()
	ctx := context.Background()
	p.WaitFor(ctx, "snapshots done", 90*time.Second) // text or JSON log
	exec(t, db, `INSERT INTO t VALUES ($1, 'secured')`, id)
	rd := harness.NewReader(t, k.Brokers(), registryURL, topic)
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool {
		for _, ev := range e {
			if ev.Op() == "c" && num(ev.Key["id"]) == int64(id) {
				return true
			}
		}
		return false
	})
	if evs[0].Op() != "r" || num(evs[0].Key["id"]) != 1 {
		t.Errorf("first event %s key %v, want the snapshot read of id 1", evs[0].Op(), evs[0].Key)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop: exit code %d", code)
	}
}

// wantFailure checks a failed run's exit code and that its output names
// every want.
func wantFailure(t *testing.T, code int, out string, want ...string) {
	t.Helper()
	t.Logf("exit %d: %s", code, errorLines(out))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	noSecrets(t, out)
}

// errorLines returns the lines of out that report the error.
func errorLines(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, `"level":"ERROR"`) || strings.HasPrefix(l, "sluice ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// noSecrets fails the test if out contains any secret.
func noSecrets(t *testing.T, out string) {
	t.Helper()
	for _, s := range allSecrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains the secret %q:\n%s", s, out)
		}
	}
}

// ---------------------------------------------------------------- tests --

// TestSecurityPostgresTLS: against a Postgres that refuses host connections
// without TLS, Sluice streams when the server's certificate is verified
// either way TLS can be configured (the DSN's sslmode=verify-full with
// sslrootcert, or source.tls, which overrides the DSN's sslmode=disable);
// a certificate from another CA, or one that does not name the host,
// stops it with exit 1 and an error naming certificate verification and
// the fix, as does connecting without TLS.
func TestSecurityPostgresTLS(t *testing.T) {
	pg, k, reg := securePostgres(t), secureKafka(t), secureRegistry(t)
	db, conn := secureDB(t, pg)
	base := secConfig{brokers: k.Brokers(), registry: reg.URL}

	t.Run("sslmode verify-full", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.dsn = pgURL(pg, secPGPassword, db, "sslmode=verify-full&sslrootcert="+secure.ca.file)
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		streamed(t, p, conn, k.Kafka, reg.URL, c.name+".public.t", 10)
		noSecrets(t, p.Output())
	})
	t.Run("source.tls overrides sslmode", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.dsn = pgURL(pg, secPGPassword, db, "sslmode=disable")
		c.sourceTLS = tlsWith(secure.ca.file)
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		streamed(t, p, conn, k.Kafka, reg.URL, c.name+".public.t", 11)
		noSecrets(t, p.Output())
	})
	failures := []struct {
		name      string
		params    string
		sourceTLS string
		want      []string
	}{
		{"source.tls other CA", "sslmode=disable", tlsWith(secure.otherCA.file),
			[]string{"TLS certificate verification failed", "certificate signed by unknown authority", "source.tls.ca_file"}},
		{"sslrootcert other CA", "sslmode=verify-full&sslrootcert=" + secure.otherCA.file, "",
			[]string{"TLS certificate verification failed", "source.tls.ca_file (or sslrootcert in source.dsn)"}},
		{"source.tls wrong server name", "", fmt.Sprintf("{enabled: true, ca_file: %s, server_name: db.example.com}", secure.ca.file),
			[]string{"TLS certificate verification failed", "db.example.com", "source.tls.server_name"}},
		{"no TLS", "sslmode=disable", "",
			[]string{"no encryption", "source.tls.enabled: true"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			c := base
			c.name = testName(t)
			c.dsn = pgURL(pg, secPGPassword, db, f.params)
			c.sourceTLS = f.sourceTLS
			code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
			wantFailure(t, code, out, f.want...)
		})
	}
}

// TestSecurityKafkaSASLSSL: Sluice produces in exactly-once mode through a
// SASL_SSL listener (TLS verified against kafka.tls.ca_file, SCRAM-SHA-512
// with the password from a file); the events are read back over the
// broker's PLAINTEXT listener, and the transactional producer is seen by
// the broker. A wrong password stops it with exit 1 and an error that says
// SASL authentication failed and what to check; so do a certificate from
// another CA and a listener that does not match kafka.tls and kafka.sasl.
func TestSecurityKafkaSASLSSL(t *testing.T) {
	pg, k, reg := securePostgres(t), secureKafka(t), secureRegistry(t)
	db, conn := secureDB(t, pg)
	dir := t.TempDir()
	good := writeSecret(t, dir, "sasl-good", secKafkaPassword)
	bad := writeSecret(t, dir, "sasl-bad", secKafkaWrong)
	base := secConfig{
		dsn: pgURL(pg, secPGPassword, db, "sslmode=disable"), sourceTLS: tlsWith(secure.ca.file),
		brokers: []string{k.SASLAddr()}, kafkaTLS: tlsWith(secure.ca.file), registry: reg.URL,
	}
	sasl := func(file string) string {
		return fmt.Sprintf("{mechanism: SCRAM-SHA-512, username: %s, password_file: %s}", secKafkaUser, file)
	}

	t.Run("produces exactly-once", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.kafkaSASL = sasl(good)
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		streamed(t, p, conn, k.Kafka, reg.URL, c.name+".public.t", 20)
		noSecrets(t, p.Output())
		// The events came from the transactional producer sluice-<name>.
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		txns, err := kadm.NewClient(cl).DescribeTransactions(context.Background(), "sluice-"+c.name)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := txns["sluice-"+c.name]
		if !ok || d.Err != nil {
			t.Fatalf("transactional id sluice-%s: %+v (found %v)", c.name, d, ok)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.kafkaSASL = sasl(bad)
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		wantFailure(t, code, out, "SASL authentication failed", secKafkaUser, "SCRAM-SHA-512", "kafka.sasl.password")
	})
	// Listener mix-ups: each names the setting to change.
	mixups := []struct {
		name     string
		brokers  []string
		kafkaTLS string
		want     []string
	}{
		{"TLS off against SASL_SSL", []string{k.SASLAddr()}, "", []string{"speaks TLS", "kafka.tls.enabled: true"}},
		{"TLS against PLAINTEXT", k.Brokers(), tlsWith(secure.ca.file), []string{"closed the connection", "kafka.tls"}},
		{"SASL against PLAINTEXT", k.Brokers(), "", []string{"does not take SASL", "kafka.sasl"}},
	}
	for _, m := range mixups {
		t.Run(m.name, func(t *testing.T) {
			c := base
			c.name = testName(t)
			c.kafkaSASL = sasl(good)
			c.brokers, c.kafkaTLS = m.brokers, m.kafkaTLS
			code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
			wantFailure(t, code, out, m.want...)
		})
	}
	t.Run("other CA", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.kafkaSASL = sasl(good)
		c.kafkaTLS = tlsWith(secure.otherCA.file)
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		wantFailure(t, code, out, "kafka: TLS certificate verification failed", "kafka.tls.ca_file")
	})
}

// TestSecurityRegistryAuth: Sluice registers its schemas through an HTTPS
// endpoint that demands basic authentication (username and password_file,
// the certificate verified against schema_registry.tls.ca_file); a wrong
// password stops it with exit 1 and an error naming the registry and 401.
func TestSecurityRegistryAuth(t *testing.T) {
	pg, k, reg := securePostgres(t), secureKafka(t), secureRegistry(t)
	db, conn := secureDB(t, pg)
	proxy := startRegistryProxy(t, reg, secure.cert.tls, secRegUser, secRegPassword)
	dir := t.TempDir()
	base := secConfig{
		dsn: pgURL(pg, secPGPassword, db, "sslmode=disable"), sourceTLS: tlsWith(secure.ca.file),
		brokers: k.Brokers(), registry: proxy.URL, regUser: secRegUser,
		regPWFile: writeSecret(t, dir, "reg-good", secRegPassword), regTLS: tlsWith(secure.ca.file),
	}

	t.Run("authenticated", func(t *testing.T) {
		c := base
		c.name = testName(t)
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		streamed(t, p, conn, k.Kafka, reg.URL, c.name+".public.t", 30)
		noSecrets(t, p.Output())
		if proxy.authorized.Load() == 0 {
			t.Error("no authenticated request reached the registry through the proxy")
		}
	})
	t.Run("credentials in the URL", func(t *testing.T) {
		c := base
		c.name = testName(t)
		u, err := url.Parse(proxy.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(secRegUser, secRegPassword)
		c.registry, c.regUser = u.String(), ""
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		streamed(t, p, conn, k.Kafka, reg.URL, c.name+".public.t", 31)
		noSecrets(t, p.Output())
	})
	t.Run("wrong password", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.regPWFile = writeSecret(t, dir, "reg-bad", secRegWrong)
		before := proxy.rejected.Load()
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		wantFailure(t, code, out, "schema registry "+proxy.URL, "401", "schema_registry.password")
		if proxy.rejected.Load() == before {
			t.Error("the proxy rejected no request")
		}
	})
	t.Run("other CA", func(t *testing.T) {
		c := base
		c.name = testName(t)
		c.regTLS = tlsWith(secure.otherCA.file)
		code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, c.yaml()))
		wantFailure(t, code, out, "TLS certificate verification failed", "schema_registry.tls.ca_file")
	})
}

// TestSecuritySecretsNeverPrinted runs `sluice run` and `sluice tail` with
// a Postgres, a SASL and a registry password, at log level debug in both
// log formats, through success and every failure above (wrong password,
// unreachable server, certificate from another CA), and finds none of the
// secrets in anything they print.
func TestSecuritySecretsNeverPrinted(t *testing.T) {
	pg, k, reg := securePostgres(t), secureKafka(t), secureRegistry(t)
	db, conn := secureDB(t, pg)
	proxy := startRegistryProxy(t, reg, secure.cert.tls, secRegUser, secRegPassword)
	dir := t.TempDir()
	saslGood := writeSecret(t, dir, "sasl-good", secKafkaPassword)
	saslBad := writeSecret(t, dir, "sasl-bad", secKafkaWrong)
	regGood := writeSecret(t, dir, "reg-good", secRegPassword)
	regBad := writeSecret(t, dir, "reg-bad", secRegWrong)
	closed, err := testenv.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := fmt.Sprintf("127.0.0.1:%d", closed)
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	sasl := func(file string) string {
		return fmt.Sprintf("{mechanism: SCRAM-SHA-512, username: %s, password_file: %s}", secKafkaUser, file)
	}
	good := secConfig{
		dsn: pgURL(pg, secPGPassword, db, "sslmode=verify-full&sslrootcert="+secure.ca.file), sourceTLS: tlsWith(secure.ca.file),
		brokers: []string{k.SASLAddr()}, kafkaTLS: tlsWith(secure.ca.file), kafkaSASL: sasl(saslGood),
		registry: proxy.URL, regUser: secRegUser, regPWFile: regGood, regTLS: tlsWith(secure.ca.file),
	}
	failures := []struct {
		name string
		tail bool // also run `sluice tail` (which uses neither Postgres nor the DSN)
		edit func(*secConfig)
	}{
		{"postgres wrong password", false, func(c *secConfig) { c.dsn = strings.Replace(c.dsn, secPGPassword, secPGWrong, 1) }},
		{"postgres unreachable", false, func(c *secConfig) {
			c.dsn = strings.Replace(c.dsn, pg.Addr(), closedAddr, 1) + "&connect_timeout=5"
		}},
		{"postgres other CA", false, func(c *secConfig) { c.sourceTLS = tlsWith(secure.otherCA.file) }},
		{"kafka wrong password", true, func(c *secConfig) { c.kafkaSASL = sasl(saslBad) }},
		{"kafka unreachable", true, func(c *secConfig) { c.brokers = []string{closedAddr} }},
		{"kafka other CA", true, func(c *secConfig) { c.kafkaTLS = tlsWith(secure.otherCA.file) }},
		{"registry wrong password", true, func(c *secConfig) { c.regPWFile = regBad }},
		{"registry unreachable", true, func(c *secConfig) { c.registry = strings.Replace(c.registry, proxyURL.Host, closedAddr, 1) }},
		{"registry other CA", true, func(c *secConfig) { c.regTLS = tlsWith(secure.otherCA.file) }},
		// The registry client quotes request URLs in its errors.
		{"registry URL credentials unreachable", true, func(c *secConfig) {
			c.registry = "https://" + secRegUser + ":" + secRegPassword + "@" + closedAddr + proxyURL.Path
			c.regUser = ""
		}},
		{"registry URL credentials wrong", true, func(c *secConfig) {
			c.registry = "https://" + secRegUser + ":" + secRegWrong + "@" + proxyURL.Host + proxyURL.Path
			c.regUser = ""
		}},
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			c := good
			c.name = testName(t)
			c.logFormat = format
			topic := c.name + ".public.t"
			cfg := harness.WriteConfig(t, c.yaml())
			p := harness.Start(t, nil, "run", "-c", cfg)
			streamed(t, p, conn, k.Kafka, reg.URL, topic, map[string]int{"text": 40, "json": 41}[format])
			noSecrets(t, p.Output())
			// tail decodes through the authenticated registry, reading over
			// SASL_SSL: the snapshot row and the insert.
			code, out := harness.Run(t, 120*time.Second, nil, "tail", "-c", cfg, "--from-beginning", "--max", "2", topic)
			if code != 0 || strings.Count(out, `"topic"`) != 2 {
				t.Errorf("tail: exit code %d, output:\n%s", code, out)
			}
			noSecrets(t, out)

			for _, f := range failures {
				t.Run(f.name, func(t *testing.T) {
					c := good
					c.name = testName(t)
					c.logFormat = format
					f.edit(&c)
					cfg := harness.WriteConfig(t, c.yaml())
					code, out := harness.Run(t, 180*time.Second, nil, "run", "-c", cfg)
					t.Logf("run: exit %d: %s", code, errorLines(out))
					if code != 1 {
						t.Errorf("run: exit code %d, want 1", code)
					}
					noSecrets(t, out)
					if !f.tail {
						return
					}
					code, out = harness.Run(t, 180*time.Second, nil, "tail", "-c", cfg, "--from-beginning", "--max", "1", topic)
					t.Logf("tail: exit %d: %s", code, errorLines(out))
					if code != 1 {
						t.Errorf("tail: exit code %d, want 1; output:\n%s", code, out)
					}
					noSecrets(t, out)
				})
			}
		})
	}
}
