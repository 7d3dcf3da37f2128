package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// faultRun drives one exactly-once run under a load while fault() runs,
// then compares Kafka with the source: lost 0, duplicated 0, per-key order
// kept, final state equal.
type faultRun struct {
	t       *testing.T
	name    string
	src     sourceDB
	dsn     string // what sluice connects to (maybe through a proxy)
	brokers []string
	reg     string
	tables  []string
	stats   *loadStats
	env     []string
}

func (f *faultRun) run(ctx context.Context, preload int, fault func(p *harness.Process)) harness.Report {
	t := f.t
	cfg := harness.WriteConfig(t, fmt.Sprintf(`name: %s
log: {level: debug}
source:
%skafka:
  brokers: [%s]
  delivery_timeout: 10s
schema_registry:
  url: %s
http:
  listen: ""
checkpoint:
  interval: 200ms
`, f.name, f.src.sourceYAML(f.dsn), strings.Join(f.brokers, ","), f.reg))
	if preload > 0 {
		f.src.preload(t, f.tables[0], int64(preload))
		f.stats.nextID.Store(int64(preload) + 1)
	}
	p := harness.Start(t, f.env, "run", "-c", cfg)
	fault(p)
	if p.Exited() {
		t.Fatalf("sluice exited during the fault; output:\n%s", p.Output())
	}
	f.src.waitCaughtUp(t, f.brokers, f.name, 3*time.Minute)
	topics := make([]string, len(f.tables))
	for i, tb := range f.tables {
		topics[i] = f.src.prefix(f.name) + tb
	}
	rd := harness.NewReader(t, f.brokers, f.reg, topics...)
	evs := rd.Quiet(ctx, t, 3*time.Second)
	rep := harness.Check(evs, nil)
	bad := compareFinal(t, evs, f.src.prefix(f.name), f.src.finalState(t, f.tables))
	restarts := strings.Count(p.Output(), "restarting from the last checkpoint")
	changes := f.stats.changes.Load()
	lost := lostEvents(rep, changes)
	if rep.Reads > preload {
		t.Errorf("%d snapshot reads of %d preloaded rows", rep.Reads, preload)
	}
	t.Logf("figures: %s source_changes=%d lost=%d %s final_state_mismatches=%d pipeline_restarts=%d", t.Name(), changes, lost, rep, bad, restarts)
	if lost != 0 || rep.Duplicates != 0 || rep.OrderViolations != 0 || bad != 0 {
		t.Errorf("exactly-once under faults: %s, %d final-state mismatches", rep, bad)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
	return rep
}

func waitRows(ctx context.Context, l *loadStats, n int64) {
	for l.nextID.Load() < n && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultKafka restarts the broker mid-load, then cuts the link to it
// for longer than the delivery timeout: the checkpoint (and so the slot)
// does not advance while Kafka is unreachable, and nothing is lost or
// duplicated.
func TestFaultKafka(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	pg, r := sharedPostgres(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, proxy := proxiedKafka(ctx, t)
	brokers := []string{proxy.Addr()}
	tables := []string{"a", "b"}
	load := newPgLoad(t, db, tables, 40_000, 200)
	// About 400 transactions over about 35s: the load runs through the
	// broker restart and the cut.
	load.pause = 80 * time.Millisecond
	f := &faultRun{t: t, name: testName(t), src: &pgSource{db: db}, dsn: dsn, brokers: brokers, reg: r.URL, tables: tables,
		stats: &load.loadStats}
	f.run(ctx, 0, func(p *harness.Process) {
		p.WaitFor(ctx, "msg=streaming", 90*time.Second)
		loadErr := make(chan error, 1)
		go func() { loadErr <- load.run(ctx, dsn) }()
		waitRows(ctx, &load.loadStats, 10_000)
		t.Log("restarting the broker")
		if err := k.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		cutKafka(ctx, t, p, proxy, k.DirectBrokers(), f.name, load.loadStats.nextID.Load, load.rows, func() (checkpoint.LSN, bool) {
			return slotFlush(ctx, db, "sluice_"+f.name)
		})
		if err := <-loadErr; err != nil {
			t.Fatal(err)
		}
	})
}

// proxiedKafka starts a broker of the test's own, advertised through a
// proxy that can cut the link to it (k.DirectBrokers bypasses the proxy).
func proxiedKafka(ctx context.Context, t *testing.T) (*testenv.Kafka, *harness.Proxy) {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	proxy := harness.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", port))
	opts := matrixKafka(t)
	opts.Port, opts.ProxyPort = port, proxy.Port()
	k, err := testenv.StartKafka(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, k)
	return k, proxy
}

// cutKafka waits until Sluice commits again after a broker restart, then
// cuts the Kafka link for 15s (longer than the 10s delivery timeout)
// while the load goes on, and checks that the checkpoint stored in Kafka
// (read past the proxy) does not advance and that no checkpoint commit is
// reported meanwhile. slot, when not nil, returns the Postgres slot's
// confirmed position, which must never pass the stored checkpoint.
func cutKafka(ctx context.Context, t *testing.T, p *harness.Process, proxy *harness.Proxy, direct []string, name string,
	nextID func() int64, rows int64, slot func() (checkpoint.LSN, bool)) {
	t.Helper()
	restarted := storedCheckpoint(t, direct, name)
	deadline := time.Now().Add(60 * time.Second)
	for storedCheckpoint(t, direct, name).Position == restarted.Position {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint committed within 60s of the broker restart (still %v)", restarted.Position)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if nextID() > rows {
		t.Fatalf("the load ended before the cut")
	}
	before := storedCheckpoint(t, direct, name)
	t.Log("cutting the Kafka link for 15s (delivery timeout 10s)")
	rowsAtCut := nextID()
	proxy.Cut()
	time.Sleep(2 * time.Second) // in-flight commits settle
	var slotDuring, slotAfter checkpoint.LSN
	during := storedCheckpoint(t, direct, name)
	if slot != nil {
		slotDuring, _ = slot()
	}
	mark := len(p.Output())
	time.Sleep(13 * time.Second)
	after := storedCheckpoint(t, direct, name)
	if slot != nil {
		slotAfter, _ = slot()
	}
	rowsAtEnd := nextID()
	commits := strings.Count(p.Output()[mark:], "checkpoint committed")
	failures := strings.Count(p.Output()[mark:], "restarting from the last checkpoint")
	proxy.Restore()
	t.Logf("figures: stored checkpoint before the cut %v, 2s into it %v, at its end %v; checkpoint commits reported in those 13s: %d; pipeline restarts in them: %d; rows inserted before the cut %d, by its end %d",
		before.Position, during.Position, after.Position, commits, failures, rowsAtCut-1, rowsAtEnd-1)
	if slot != nil {
		t.Logf("figures: slot confirmed_flush %s 2s into the cut, %s at its end", slotDuring, slotAfter)
	}
	if rowsAtEnd == rowsAtCut {
		t.Errorf("the load did not run during the cut, so the checks prove nothing")
	}
	if after.Position != during.Position {
		t.Errorf("the checkpoint advanced from %v to %v while Kafka was unreachable", during.Position, after.Position)
	}
	// The slot may catch up with the checkpoint stored before the cut (a
	// status update or a restarted pipeline's START_REPLICATION reports it
	// late), never pass it [I3].
	if slot != nil && (slotDuring > after.Position.LSN || slotAfter > after.Position.LSN) {
		t.Errorf("slot confirmed_flush %s 2s into the cut, %s at its end, beyond the stored checkpoint %s, while Kafka was unreachable",
			slotDuring, slotAfter, after.Position.LSN)
	}
	if commits != 0 {
		t.Errorf("%d checkpoint commits reported while Kafka was unreachable", commits)
	}
}

// TestFaultDatabase cuts the link to Postgres during the snapshot and
// during streaming, and restarts Postgres during streaming.
func TestFaultDatabase(t *testing.T) {
	k, r := sharedKafka(t), sharedRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, pg)
	direct, db := pgDB(t, pg)
	proxy := harness.NewProxy(t, pg.Addr())
	viaProxy := strings.Replace(direct, pg.Addr(), proxy.Addr(), 1)
	tables := []string{"a", "b"}
	load := newPgLoad(t, db, tables, 300_000, 200)
	src := &pgSource{db: db}
	f := &faultRun{t: t, name: testName(t), src: src, dsn: viaProxy, brokers: k.Brokers(), reg: r.URL, tables: tables,
		stats: &load.loadStats}
	load.rows = 300_000 + 30_000
	// A slow link until the first cut, so that the snapshot is still
	// reading when it falls.
	proxy.Slow(20 * time.Millisecond)
	f.run(ctx, 300_000, func(p *harness.Process) {
		p.WaitFor(ctx, `msg="snapshot chunk read"`, 90*time.Second)
		time.Sleep(time.Second) // a few chunks delivered, many to go
		t.Log("cutting the database link during the snapshot")
		proxy.Cut()
		proxy.Slow(0)
		time.Sleep(2 * time.Second)
		proxy.Restore()
		p.WaitFor(ctx, `msg="snapshots done"`, 3*time.Minute)
		loadErr := make(chan error, 1)
		go func() { loadErr <- load.run(ctx, direct) }()
		waitRows(ctx, &load.loadStats, 310_000)
		t.Log("cutting the database link during streaming")
		proxy.Cut()
		time.Sleep(3 * time.Second)
		proxy.Restore()
		waitRows(ctx, &load.loadStats, 320_000)
		if err := <-loadErr; err != nil {
			t.Fatal(err)
		}
		t.Log("restarting Postgres during streaming")
		db.Close(ctx)
		if err := pg.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		if src.db, err = pgx.Connect(ctx, direct); err != nil {
			t.Fatal(err)
		}
		load.rows = 330_000
		if err := load.run(ctx, direct); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`msg="snapshot of table started" table=public.a range=\d+ estimate=\d+ resume_after=\d+`).MatchString(p.Output()) {
			t.Errorf("the snapshot of public.a did not resume after a delivered chunk once the link was back")
		}
	})
}

// TestSecondInstance: a second instance with the same name does not take
// over a running one; it exits with an error naming the cause, and the
// first keeps producing.
func TestSecondInstance(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	ctx := context.Background()
	a := harness.Start(t, nil, "run", "-c", cfg)
	a.WaitFor(ctx, "msg=streaming", 60*time.Second)
	exec(t, db, `INSERT INTO t VALUES (1)`)
	b := harness.Start(t, nil, "run", "-c", cfg)
	if code := b.Wait(60 * time.Second); code != 1 {
		t.Fatalf("second instance exit code %d, want 1", code)
	}
	if !strings.Contains(b.Output(), "in use by another connection") {
		t.Errorf("second instance output does not say the slot is in use:\n%s", b.Output())
	}
	exec(t, db, `INSERT INTO t VALUES (2)`)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.t")
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool { return len(e) >= 2 })
	if rep := harness.Check(evs, nil); rep.Duplicates != 0 || len(evs) != 2 {
		t.Errorf("got %d events (%s), want 2", len(evs), rep)
	}
	if a.Exited() {
		t.Fatal("the first instance stopped")
	}
	if code := a.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestSlotDropped: a slot dropped while Sluice is down is a gap; Sluice
// refuses to start and says so.
func TestSlotDropped(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	ctx := context.Background()
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	exec(t, db, `INSERT INTO t VALUES (1)`)
	time.Sleep(time.Second)
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	// The walsender releases the slot when it has read Sluice's last
	// messages and its connection's end, a moment after Sluice exits.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var active bool
		if err := db.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, "sluice_"+name).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if !active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot sluice_%s still active 10s after Sluice exited", name)
		}
	}
	exec(t, db, `SELECT pg_drop_replication_slot('sluice_`+name+`')`)
	exec(t, db, `INSERT INTO t VALUES (2)`)
	code, out := harness.Run(t, 60*time.Second, nil, "run", "-c", cfg)
	if code != 1 || !strings.Contains(out, "does not exist") || !strings.Contains(out, "gap") {
		t.Fatalf("exit code %d, output:\n%s", code, out)
	}
	if cp := storedCheckpoint(t, k.Brokers(), name); cp == nil || cp.Position.LSN == checkpoint.LSN(0) {
		t.Fatalf("checkpoint %v", cp)
	}
}
