package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// scrape returns every sample of /metrics as "name{labels}" -> value.
func scrape(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}

func readyz(addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsAndReadiness scrapes /metrics during a run: snapshot progress
// reaches the table's rows, throughput counters move while rows are
// written, lag, produce and commit-to-Kafka latency, the slot's retained
// WAL and the Go runtime's metrics are exported;
// /readyz turns not ready when the database link is cut and ready again
// after it is restored.
func TestMetricsAndReadiness(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	direct, db := pgDB(t, pg)
	proxy := harness.NewProxy(t, pg.Addr())
	dsn := strings.Replace(direct, pg.Addr(), proxy.Addr(), 1)
	name := testName(t)
	exec(t, db, `CREATE TABLE m (id bigint PRIMARY KEY, v text)`)
	exec(t, db, `INSERT INTO m SELECT g, md5(g::text) FROM generate_series(1, 20000) g`)
	exec(t, db, `ANALYZE m`)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := harness.WriteConfig(t, strings.Replace(pgConfig(name, dsn, k, r, ""), `listen: ""`, "listen: "+addr, 1))
	ctx := context.Background()
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, 60*time.Second)
	waitReady := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for readyz(addr) != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz did not answer %d within %s", want, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitReady(200, 10*time.Second)

	m1 := scrape(t, addr)
	if got := m1[`sluice_snapshot_rows_total{table="public.m"}`]; got != 20000 {
		t.Errorf("snapshot rows %v, want 20000", got)
	}
	if got := m1[`sluice_snapshot_rows_estimate{table="public.m"}`]; got < 10000 {
		t.Errorf("snapshot estimate %v", got)
	}
	for i := 0; i < 20; i++ {
		exec(t, db, fmt.Sprintf(`INSERT INTO m SELECT g, 'x' FROM generate_series(%d, %d) g`, 100000+i*100, 100000+i*100+99))
	}
	time.Sleep(time.Second)
	m2 := scrape(t, addr)
	created := m2[`sluice_events_total{op="c",table="public.m"}`]
	if created != 2000 || m2["sluice_event_bytes_total"] <= m1["sluice_event_bytes_total"] {
		t.Errorf("throughput did not move: creates %v, bytes %v -> %v", created, m1["sluice_event_bytes_total"], m2["sluice_event_bytes_total"])
	}
	// Every change event is timed, and one in 16 other records (the
	// 20,000 snapshot rows).
	if m2["sluice_kafka_produce_latency_seconds_count"] < 2000+20000/16 {
		t.Errorf("produce latency count %v", m2["sluice_kafka_produce_latency_seconds_count"])
	}
	// Every streamed change, and no snapshot read, is measured from its
	// source commit.
	if n := m2["sluice_commit_to_kafka_latency_seconds_count"]; n != 2000 {
		t.Errorf("commit-to-Kafka latency count %v, want 2000", n)
	}
	for _, k := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if m2[k] <= 0 {
			t.Errorf("runtime metric %s = %v", k, m2[k])
		}
	}
	for _, k := range []string{"sluice_source_lag_seconds", "sluice_postgres_slot_retained_wal_bytes", `sluice_errors_total{kind="source"}`, "sluice_checkpoint_lsn"} {
		if _, ok := m2[k]; !ok {
			t.Errorf("metric %s missing", k)
		}
	}
	if m2["sluice_checkpoint_lsn"] <= m1["sluice_checkpoint_lsn"] {
		t.Errorf("checkpoint did not advance: %v -> %v", m1["sluice_checkpoint_lsn"], m2["sluice_checkpoint_lsn"])
	}

	proxy.Cut()
	waitReady(503, 30*time.Second)
	m3 := scrape(t, addr)
	proxy.Restore()
	waitReady(200, 60*time.Second)
	m4 := scrape(t, addr)
	t.Logf("figures: creates=%v produce_latency_p_count=%v restarts_during_cut=%v source_errors=%v ready_again=true",
		created, m2["sluice_kafka_produce_latency_seconds_count"], m4["sluice_pipeline_restarts_total"], m4[`sluice_errors_total{kind="source"}`])
	if m3["sluice_ready"] != 0 || m4["sluice_ready"] != 1 || m4[`sluice_errors_total{kind="source"}`] < 1 {
		t.Errorf("ready %v -> %v, source errors %v", m3["sluice_ready"], m4["sluice_ready"], m4[`sluice_errors_total{kind="source"}`])
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestMetricsMySQLPosition: with a MySQL-protocol source the checkpoint's
// binlog file number and position are exported (sluice_checkpoint_lsn is
// Postgres's and stays 0), and every streamed change is measured from its
// source time to Kafka's acknowledgement.
func TestMetricsMySQLPosition(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	myExec(t, db, "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(20))")
	myExec(t, db, "INSERT INTO t VALUES (1, 'snapshot')")
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := harness.WriteConfig(t, strings.Replace(myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""), `listen: ""`, "listen: "+addr, 1))
	ctx := context.Background()
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	for i := 2; i <= 51; i++ {
		myExec(t, db, fmt.Sprintf("INSERT INTO t VALUES (%d, 'streamed')", i))
	}
	myWaitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp := storedCheckpoint(t, k.Brokers(), name)
		got := scrape(t, addr)
		file := strings.LastIndexByte(cp.Position.File, '.')
		n, _ := strconv.ParseFloat(cp.Position.File[file+1:], 64)
		if got["sluice_checkpoint_binlog_file_number"] == n && got["sluice_checkpoint_binlog_position"] == float64(cp.Position.Pos) {
			t.Logf("figures: checkpoint %s:%d exported as file number %v, position %v; commit-to-Kafka latency count %v sum %vs",
				cp.Position.File, cp.Position.Pos, n, got["sluice_checkpoint_binlog_position"],
				got["sluice_commit_to_kafka_latency_seconds_count"], got["sluice_commit_to_kafka_latency_seconds_sum"])
			if n < 1 || cp.Position.Pos == 0 || got["sluice_checkpoint_lsn"] != 0 {
				t.Errorf("file number %v, position %d, lsn %v", n, cp.Position.Pos, got["sluice_checkpoint_lsn"])
			}
			if c := got["sluice_commit_to_kafka_latency_seconds_count"]; c != 50 {
				t.Errorf("commit-to-Kafka latency count %v, want 50 (the streamed inserts, not the snapshot read)", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored checkpoint %s:%d, exported file number %v position %v", cp.Position.File, cp.Position.Pos,
				got["sluice_checkpoint_binlog_file_number"], got["sluice_checkpoint_binlog_position"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
