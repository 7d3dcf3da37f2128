package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// Probe thresholds of these tests, set through the environment.
const (
	probeReadiness = 2 * time.Second
	probeLiveness  = 3 * time.Second
)

var probeEnv = []string{
	"SLUICE_HTTP_READINESS_TIMEOUT=" + probeReadiness.String(),
	"SLUICE_HTTP_LIVENESS_TIMEOUT=" + probeLiveness.String(),
}

// probe answers GET path with its status code and one-line body (0 when
// the request failed).
func probe(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitProbe waits until path answers want.
func waitProbe(t *testing.T, addr, path string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := probe(addr, path)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d %q, not %d, for %s", path, code, body, want, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tableEvents is the sum of sluice_events_total over the ops of table.
func tableEvents(m map[string]float64, table string) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "sluice_events_total{") && strings.Contains(k, `table="`+table+`"`) {
			n += v
		}
	}
	return n
}

func probeAddr(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// probeFailures polls /readyz and /healthz every 100ms until stop is
// closed and returns every answer that was not 200.
func probeFailures(addr string, stop <-chan struct{}) func() []string {
	var (
		mu    sync.Mutex
		fails []string
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			for _, path := range []string{"/readyz", "/healthz"} {
				if code, body := probe(addr, path); code != http.StatusOK {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%s %s: %d %s", time.Now().Format("15:04:05.000"), path, code, body))
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return fails
	}
}

// TestProbesLongTransaction: a source transaction open on the server for
// longer than the readiness timeout, whose rows then take Sluice several
// readiness timeouts to stream (the database link is slowed), keeps
// /readyz and /healthz at 200 throughout: no commit or idle position
// arrives meanwhile, but every row is progress.
func TestProbesLongTransaction(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	direct, db := pgDB(t, pg)
	proxy := harness.NewProxy(t, pg.Addr())
	dsn := strings.Replace(direct, pg.Addr(), proxy.Addr(), 1)
	name := testName(t)
	exec(t, db, `CREATE TABLE lt (id bigint PRIMARY KEY, v text)`)
	addr := probeAddr(t)
	cfg := harness.WriteConfig(t, strings.Replace(pgConfig(name, dsn, k, r, ""), `listen: ""`, "listen: "+addr, 1))
	ctx := context.Background()
	p := harness.Start(t, probeEnv, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	waitProbe(t, addr, "/readyz", http.StatusOK, 10*time.Second)
	waitProbe(t, addr, "/healthz", http.StatusOK, time.Second)

	stop := make(chan struct{})
	failures := probeFailures(addr, stop)

	// One transaction, open for twice the readiness timeout, of 40,000
	// rows (about 3.5 MB of pgoutput). Through a link that forwards 32 KiB
	// every 100ms, Sluice receives them over about ten seconds.
	const batches, perBatch = 20, 2000
	const rows = batches * perBatch
	proxy.Slow(100 * time.Millisecond)
	txStart := time.Now()
	exec(t, db, "BEGIN")
	for i := range batches {
		exec(t, db, fmt.Sprintf(`INSERT INTO lt SELECT g, md5(g::text) FROM generate_series(%d, %d) g`, i*perBatch+1, (i+1)*perBatch))
		time.Sleep(2 * probeReadiness / batches)
	}
	exec(t, db, "COMMIT")
	txOpen := time.Since(txStart)

	var first, last time.Time
	commitsAtFirst := -1.0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		m := scrape(t, addr)
		n := tableEvents(m, "public.lt")
		if n > 0 && first.IsZero() {
			first, commitsAtFirst = time.Now(), m["sluice_checkpoint_commits_total"]
		}
		if n == rows && m["sluice_checkpoint_commits_total"] > commitsAtFirst {
			last = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d rows delivered within 3 minutes", n, rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	fails := failures()
	proxy.Slow(0)
	streamed := last.Sub(first)
	t.Logf("figures: transaction open %s on the server, its %d rows streamed to Kafka in %s (readiness timeout %s); probe failures: %d",
		txOpen.Round(time.Millisecond), rows, streamed.Round(time.Millisecond), probeReadiness, len(fails))
	if streamed < 3*probeReadiness {
		t.Fatalf("the transaction streamed in %s, not several readiness timeouts (%s): the test proves nothing; slow the link more", streamed, probeReadiness)
	}
	if len(fails) > 0 {
		t.Errorf("the probes failed during a long transaction:\n%s", strings.Join(fails, "\n"))
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestProbesKafkaStall: with changes pending, a Kafka link that stays
// open but forwards nothing makes /healthz answer 503 once the liveness
// timeout passed without progress; it answers 200 again once the link
// forwards again, and every change is delivered.
func TestProbesKafkaStall(t *testing.T) {
	pg, r := sharedPostgres(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, kproxy := proxiedKafka(ctx, t)
	name := testName(t)
	exec(t, db, `CREATE TABLE st (id bigint PRIMARY KEY, v text)`)
	addr := probeAddr(t)
	cfg := harness.WriteConfig(t, fmt.Sprintf(`name: %s
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
  listen: %s
checkpoint:
  interval: 200ms
`, name, dsn, kproxy.Addr(), r.URL, addr))
	p := harness.Start(t, probeEnv, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	waitProbe(t, addr, "/readyz", http.StatusOK, 10*time.Second)
	waitProbe(t, addr, "/healthz", http.StatusOK, time.Second)
	// The first change registers the table's schema and creates its
	// topic, so that the stall meets only produce and commit requests.
	exec(t, db, `INSERT INTO st VALUES (0, 'before')`)
	for tableEvents(scrape(t, addr), "public.st") < 1 {
		time.Sleep(50 * time.Millisecond)
	}
	waitProbe(t, addr, "/healthz", http.StatusOK, 10*time.Second)

	kproxy.Stall()
	stalled := time.Now()
	const txns, perTxn = 10, 100
	for i := range txns {
		exec(t, db, fmt.Sprintf(`INSERT INTO st SELECT g, 'x' FROM generate_series(%d, %d) g`, i*perTxn+1, (i+1)*perTxn))
	}
	why := waitProbe(t, addr, "/healthz", http.StatusServiceUnavailable, probeLiveness+30*time.Second)
	failedAfter := time.Since(stalled)
	m := scrape(t, addr)
	_, ready := probe(addr, "/readyz")
	kproxy.Restore()
	restored := time.Now()
	waitProbe(t, addr, "/healthz", http.StatusOK, 30*time.Second)
	recoveredAfter := time.Since(restored)
	t.Logf("figures: /healthz 503 %s after the stall began (liveness timeout %s): %q; /readyz then: %q; /healthz 200 again %s after the link was restored",
		failedAfter.Round(time.Millisecond), probeLiveness, why, ready, recoveredAfter.Round(time.Millisecond))
	if failedAfter < probeLiveness {
		t.Errorf("/healthz failed %s into the stall, before the liveness timeout %s", failedAfter, probeLiveness)
	}
	if !strings.HasPrefix(why, "not live: ") {
		t.Errorf("/healthz reason %q", why)
	}
	if m["sluice_live"] != 0 {
		t.Errorf("sluice_live = %v while /healthz fails", m["sluice_live"])
	}

	deadline := time.Now().Add(2 * time.Minute)
	for tableEvents(scrape(t, addr), "public.st") < 1+txns*perTxn || probeCode(addr, "/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("after the stall: %v events of %d, /readyz %d", tableEvents(scrape(t, addr), "public.st"), 1+txns*perTxn, probeCode(addr, "/readyz"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := scrape(t, addr); m["sluice_live"] != 1 {
		t.Errorf("sluice_live = %v after recovery", m["sluice_live"])
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func probeCode(addr, path string) int {
	code, _ := probe(addr, path)
	return code
}
