package integration

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// Servers are started once per test binary, on first use, and shared:
// each test gets its own database, connector name (so its own topics,
// slot and publication) on them.
var shared struct {
	mu    sync.Mutex
	pg    *testenv.Postgres
	kafka *testenv.Kafka
	reg   *testenv.Registry
	stops []func() error
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	for i := len(shared.stops) - 1; i >= 0; i-- {
		_ = shared.stops[i]()
	}
	shared.mu.Unlock()
	os.Exit(code)
}

func startCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 3*time.Minute)
}

func sharedPostgres(t testing.TB) *testenv.Postgres {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg == nil {
		ctx, cancel := startCtx()
		defer cancel()
		pg, err := testenv.StartPostgres(ctx, matrixPostgres(t))
		if err != nil {
			t.Fatal(err)
		}
		shared.pg = pg
		shared.stops = append(shared.stops, pg.Stop)
	}
	return shared.pg
}

func sharedKafka(t testing.TB) *testenv.Kafka {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.kafka == nil {
		ctx, cancel := startCtx()
		defer cancel()
		k, err := testenv.StartKafka(ctx, matrixKafka(t))
		if err != nil {
			t.Fatal(err)
		}
		shared.kafka = k
		shared.stops = append(shared.stops, k.Stop)
	}
	return shared.kafka
}

func sharedRegistry(t testing.TB) *testenv.Registry {
	t.Helper()
	k := sharedKafka(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.reg == nil {
		ctx, cancel := startCtx()
		defer cancel()
		r, err := testenv.StartRegistry(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		shared.reg = r
		shared.stops = append(shared.stops, r.Stop)
	}
	return shared.reg
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// testName turns the test name into a short identifier usable as a
// database, connector and slot name.
func testName(t testing.TB) string {
	n := nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return strings.Trim(n, "_")
}

// pgDB creates a fresh database for the test and returns a superuser DSN
// to it and an open connection.
func pgDB(t testing.TB, pg *testenv.Postgres) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	name := testName(t)
	admin, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
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
	dsn := pg.SuperuserDSN(name)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close(context.Background())
		if a, err := pgx.Connect(context.Background(), pg.SuperuserDSN("postgres")); err == nil {
			_, _ = a.Exec(context.Background(), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
			a.Close(context.Background())
		}
	})
	return dsn, conn
}

func exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgConfig returns a Sluice configuration for a Postgres source.
func pgConfig(name, dsn string, k *testenv.Kafka, r *testenv.Registry, extra string) string {
	return fmt.Sprintf(`name: %s
log: {level: debug}
source:
  type: postgres
  dsn: %q
  postgres: {heartbeat_interval: 1s, status_interval: 1s}
kafka:
  brokers: [%s]
schema_registry:
  url: %s
http:
  listen: ""
checkpoint:
  interval: 200ms
%s`, name, dsn, strings.Join(k.Brokers(), ","), r.URL, extra)
}
