package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// Long Kafka transactions: a broker whose transaction.max.timeout.ms is
// 10s aborts any transaction open longer (checked every second), and
// Sluice runs with kafka.transaction_timeout 10s. The source link is slow,
// so an initial snapshot and one source transaction each take several
// times the timeout to deliver. Both complete in exactly-once mode, the
// transaction in parts [I7], and a kill -9 inside the transaction resumes
// after the delivered part: a read_committed consumer sees every row once.

const (
	longSnapRows = 20_000
	longTxnRows  = 50_000
)

// boundedKafka starts a broker of the test's own that aborts transactions
// open longer than 10s.
func boundedKafka(ctx context.Context, t *testing.T) *testenv.Kafka {
	t.Helper()
	k, err := testenv.StartKafka(ctx, testenv.KafkaOptions{ExtraConfig: map[string]string{
		"transaction.max.timeout.ms":                                  "10000",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, k)
	return k
}

type longTxnRun struct {
	name      string
	config    string // the source reached through proxy
	proxy     *harness.Proxy
	brokers   []string
	registry  string
	snapTopic string
	bigTopic  string
	bigTxn    func() error // runs the one big source transaction
	// snapDelay slows the source link during the snapshot (a MySQL chunk
	// takes more round trips than a Postgres one).
	snapDelay time.Duration
}

func (l *longTxnRun) run(ctx context.Context, t *testing.T) {
	cfg := harness.WriteConfig(t, l.config)
	env := []string{"SLUICE_KAFKA_EXACTLY_ONCE=true", "SLUICE_KAFKA_TRANSACTION_TIMEOUT=10s", "SLUICE_SNAPSHOT_CHUNK_SIZE=1000"}
	// A slow source link: the snapshot and the transaction each take
	// well over the 10s timeout.
	l.proxy.Slow(l.snapDelay)
	start := time.Now()
	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, `snapshots done`, 5*time.Minute)
	snapTook := time.Since(start)

	l.proxy.Slow(100 * time.Millisecond) // about 320 kB/s
	start = time.Now()
	txnErr := make(chan error, 1)
	go func() { txnErr <- l.bigTxn() }()
	p.WaitFor(ctx, "committed part of a long source transaction", 3*time.Minute)
	time.Sleep(2 * time.Second)
	p.Kill()
	out := p.Output()
	if code, st := harness.Run(t, time.Minute, env, "status", "-c", cfg); code != 0 || !strings.Contains(st, "inside transaction") {
		t.Errorf("sluice status after a kill inside the transaction: exit %d, want the checkpoint inside it:\n%s", code, st)
	}
	p = harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "resumed inside a source transaction", 3*time.Minute)

	if err := <-txnErr; err != nil {
		t.Fatal(err)
	}
	rd := harness.NewReader(t, l.brokers, l.registry, l.snapTopic, l.bigTopic)
	evs := rd.ReadUntil(ctx, t, 5*time.Minute, func(e []harness.Event) bool { return len(e) >= longSnapRows+longTxnRows })
	txnTook := time.Since(start)
	evs = append(evs, rd.Quiet(ctx, t, 3*time.Second)...)
	out += p.Output()
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
	var snap, big []harness.Event
	for _, e := range evs {
		if e.Topic == l.snapTopic {
			snap = append(snap, e)
		} else {
			big = append(big, e)
		}
	}
	sr, br := harness.Check(snap, nil), harness.Check(big, nil)
	splits := strings.Count(out, "committed part of a long source transaction")
	t.Logf("figures: transaction_timeout=10s snapshot_rows=%d snapshot_seconds=%.0f txn_rows=%d txn_seconds_with_kill=%.0f kafka_transactions_inside_the_txn=%d snapshot: %s txn: %s",
		longSnapRows, snapTook.Seconds(), longTxnRows, txnTook.Seconds(), splits+1, sr, br)
	if sr.Events != longSnapRows || sr.Keys != longSnapRows || sr.Duplicates != 0 {
		t.Errorf("snapshot: want %d rows once each, got %s", longSnapRows, sr)
	}
	if br.Events != longTxnRows || br.Keys != longTxnRows || br.Duplicates != 0 || br.OrderViolations != 0 {
		t.Errorf("transaction: want %d rows once each, got %s", longTxnRows, br)
	}
	if splits < 2 {
		t.Errorf("the transaction was committed in %d parts; the test needs it to outlast the timeout several times", splits+1)
	}
	if strings.Contains(out, "took over") || strings.Contains(out, "fenced") {
		t.Errorf("a Kafka transaction was aborted by the broker:\n%s", out)
	}
}

func TestPostgresLongTransactions(t *testing.T) {
	t.Parallel() // waits on a slow link most of the time
	ctx := context.Background()
	pg, r := sharedPostgres(t), sharedRegistry(t)
	k := boundedKafka(ctx, t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, "CREATE TABLE snap (id bigint PRIMARY KEY, pad text NOT NULL)")
	exec(t, db, "INSERT INTO snap SELECT g, repeat('s', 100) FROM generate_series(1, $1::int) g", longSnapRows)
	exec(t, db, "CREATE TABLE big (id bigint PRIMARY KEY, pad text NOT NULL)")
	proxy := harness.NewProxy(t, pg.Addr())
	viaProxy := strings.Replace(dsn, pg.Addr(), proxy.Addr(), 1)
	(&longTxnRun{
		name: name, config: pgConfig(name, viaProxy, k, r, ""), proxy: proxy, brokers: k.Brokers(), registry: r.URL,
		snapTopic: name + ".public.snap", bigTopic: name + ".public.big", snapDelay: 100 * time.Millisecond,
		bigTxn: func() error {
			_, err := db.Exec(ctx, "INSERT INTO big SELECT g, repeat('b', 100) FROM generate_series(1, $1::int) g", longTxnRows)
			return err
		},
	}).run(ctx, t)
}

func TestMySQLLongTransactions(t *testing.T) {
	t.Parallel() // waits on a slow link most of the time
	ctx := context.Background()
	m, r := sharedMariaDB(t), sharedRegistry(t)
	k := boundedKafka(ctx, t)
	dbname, db := myDB(t, m)
	name := testName(t)
	myExec(t, db, "CREATE TABLE snap (id bigint PRIMARY KEY, pad varchar(200) NOT NULL)")
	myExec(t, db, "INSERT INTO snap SELECT seq, REPEAT('s', 100) FROM seq_1_to_20000")
	myExec(t, db, "CREATE TABLE big (id bigint PRIMARY KEY, pad varchar(200) NOT NULL)")
	proxy := harness.NewProxy(t, m.Addr())
	viaProxy := strings.Replace(m.RootDSN(""), m.Addr(), proxy.Addr(), 1)
	(&longTxnRun{
		name: name, config: myConfig(name, viaProxy, dbname, myServerID(), k, r, ""), proxy: proxy, brokers: k.Brokers(), registry: r.URL,
		snapTopic: name + "." + dbname + ".snap", bigTopic: name + "." + dbname + ".big", snapDelay: 40 * time.Millisecond,
		bigTxn: func() error {
			_, err := db.ExecContext(ctx, "INSERT INTO big SELECT seq, REPEAT('b', 100) FROM seq_1_to_50000")
			return err
		},
	}).run(ctx, t)
}
