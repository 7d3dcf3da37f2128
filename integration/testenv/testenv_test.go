package testenv_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestAllServers starts PostgreSQL, MariaDB, Kafka and the schema registry in
// parallel, checks each one really works, and stops them.
func TestAllServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var (
		wg    sync.WaitGroup
		pg    *testenv.Postgres
		my    *testenv.MariaDB
		kafka *testenv.Kafka
		reg   *testenv.Registry
		errs  [4]error
		took  [4]time.Duration
	)
	start := func(i int, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			errs[i] = f()
			took[i] = time.Since(t0)
		}()
	}
	start(0, func() (err error) { pg, err = testenv.StartPostgres(ctx, testenv.PostgresOptions{}); return })
	start(1, func() (err error) { my, err = testenv.StartMariaDB(ctx, testenv.MariaDBOptions{}); return })
	start(2, func() (err error) { kafka, err = testenv.StartKafka(ctx, testenv.KafkaOptions{}); return })
	start(3, func() (err error) { reg, err = testenv.StartRegistry(ctx, nil); return })
	wg.Wait()
	if pg != nil {
		testenv.Cleanup(t, pg)
	}
	if my != nil {
		testenv.Cleanup(t, my)
	}
	if kafka != nil {
		testenv.Cleanup(t, kafka)
	}
	if reg != nil {
		testenv.Cleanup(t, reg)
	}
	names := []string{"postgres", "mariadb", "kafka", "registry"}
	for i, err := range errs {
		if err != nil {
			t.Errorf("start %s: %v", names[i], err)
		} else {
			t.Logf("%s started in %.2fs", names[i], took[i].Seconds())
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("postgres", func(t *testing.T) { checkPostgres(ctx, t, pg) })
	t.Run("mariadb", func(t *testing.T) { checkMariaDB(ctx, t, my) })
	t.Run("kafka", func(t *testing.T) { checkKafka(ctx, t, kafka) })
	t.Run("registry", func(t *testing.T) { checkRegistry(ctx, t, reg) })
}

func checkPostgres(ctx context.Context, t *testing.T, pg *testenv.Postgres) {
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		t.Fatalf("connect %s: %v", pg.SuperuserDSN("postgres"), err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var walLevel string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil || walLevel != "logical" {
		t.Errorf("wal_level = %q, %v; want logical", walLevel, err)
	}
	// Password authentication is enforced over TCP.
	if c, err := pgx.Connect(ctx, pg.DSN(testenv.PostgresSuperuser, "wrong", "postgres")); err == nil {
		c.Close(ctx)
		t.Errorf("connecting with a wrong password succeeded")
	}
}

func checkMariaDB(ctx context.Context, t *testing.T, my *testenv.MariaDB) {
	if !strings.HasPrefix(my.DSN("root", "root", "mysql"), "mysql://root:root@127.0.0.1:") {
		t.Errorf("DSN = %q", my.DSN("root", "root", "mysql"))
	}
	db, err := sql.Open("mysql", my.GoSQLDSN("root", testenv.MariaDBRootPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var logBin, format, image, meta string
	var strict int
	err = db.QueryRowContext(ctx, "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@gtid_strict_mode").
		Scan(&logBin, &format, &image, &meta, &strict)
	if err != nil {
		t.Fatal(err)
	}
	if logBin != "1" || format != "ROW" || image != "FULL" || meta != "FULL" || strict != 1 {
		t.Errorf("binlog settings: log_bin=%s format=%s image=%s metadata=%s gtid_strict=%d", logBin, format, image, meta, strict)
	}
	bad, err := sql.Open("mysql", my.GoSQLDSN("root", "wrong", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.PingContext(ctx); err == nil {
		t.Errorf("connecting with a wrong password succeeded")
	}
}

func checkKafka(ctx context.Context, t *testing.T, k *testenv.Kafka) {
	const topic = "testenv-check"
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.Brokers()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	rec := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("hello")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(pctx)
		if err := pctx.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		var got *kgo.Record
		fs.EachRecord(func(r *kgo.Record) { got = r })
		if got != nil {
			if string(got.Value) != "hello" || string(got.Key) != "k" {
				t.Fatalf("consumed %q=%q", got.Key, got.Value)
			}
			return
		}
	}
}

func checkRegistry(ctx context.Context, t *testing.T, r *testenv.Registry) {
	const schema = `{"type":"record","name":"User","namespace":"sluice.test","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null}]}`
	body, _ := json.Marshal(map[string]string{"schema": schema})
	var reg struct {
		ID int `json:"id"`
	}
	call(ctx, t, http.MethodPost, r.URL+"/subjects/users-value/versions", body, &reg)
	if reg.ID <= 0 {
		t.Fatalf("registered id = %d", reg.ID)
	}
	var byID struct {
		Schema string `json:"schema"`
	}
	call(ctx, t, http.MethodGet, fmt.Sprintf("%s/schemas/ids/%d", r.URL, reg.ID), nil, &byID)
	if !sameJSON(t, byID.Schema, schema) {
		t.Errorf("schema %d = %s; want %s", reg.ID, byID.Schema, schema)
	}
	var latest struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
		ID      int    `json:"id"`
	}
	call(ctx, t, http.MethodGet, r.URL+"/subjects/users-value/versions/latest", nil, &latest)
	if latest.Subject != "users-value" || latest.Version != 1 || latest.ID != reg.ID {
		t.Errorf("latest = %+v", latest)
	}
	var cfg struct {
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	call(ctx, t, http.MethodGet, r.URL+"/config", nil, &cfg)
	if cfg.CompatibilityLevel != "BACKWARD" {
		t.Errorf("compatibilityLevel = %q; want BACKWARD", cfg.CompatibilityLevel)
	}
}

func call(ctx context.Context, t *testing.T, method, url string, body []byte, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// TestRestartAndKill exercises Restart after Kill and the keep/cleanup of
// the instance directory on PostgreSQL, MariaDB and Kafka.
func TestRestartAndKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{ExtraConf: map[string]string{"wal_level": "replica"}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, pg)
	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var walLevel string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil || walLevel != "replica" {
		t.Errorf("wal_level = %q, %v; want replica (ExtraConf)", walLevel, err)
	}
	conn.Close(ctx)

	my, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{ExtraArgs: []string{"--binlog-format=STATEMENT"}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, my)
	if err := my.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := my.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", my.GoSQLDSN("root", testenv.MariaDBRootPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	var format string
	if err := db.QueryRowContext(ctx, "SELECT @@binlog_format").Scan(&format); err != nil || format != "STATEMENT" {
		t.Errorf("binlog_format = %q, %v; want STATEMENT (ExtraArgs)", format, err)
	}
	db.Close()

	k, err := testenv.StartKafka(ctx, testenv.KafkaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, k)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "survives"); err != nil {
		t.Fatal(err)
	}
	port := k.Port
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kafka restarted after kill in %.2fs", time.Since(t0).Seconds())
	if k.Port != port {
		t.Errorf("port changed %d -> %d", port, k.Port)
	}
	topics, err := adm.ListTopics(ctx, "survives")
	if err != nil || !topics.Has("survives") {
		t.Errorf("topic lost across restart: %v %v", topics, err)
	}

	// Stop removes the directory unless kept.
	dir := pg.LogDir
	if os.Getenv("SLUICE_KEEP_LOGS") == "" {
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Stop: %v", dir, err)
		}
	}
}
