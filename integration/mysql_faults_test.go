package integration

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// The fault suite of the Postgres source (killloop_test.go,
// faults_test.go), run against MariaDB. A binlog purged while Sluice is
// down is refused by TestMySQLBadSettings/gaps.

// myLoadDB opens the load's own connection to the test database, so that
// the test's queries (head, final state) never wait for a load
// transaction.
func myLoadDB(t testing.TB, m myServer, dbname string) *sql.DB {
	t.Helper()
	db := myOpen(t, m, dbname)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMySQLKillLoop is TestKillLoop on MariaDB: 20 SIGKILLs at random
// moments during a mixed multi-table load with transactions of 1 to 1000
// rows, in both delivery modes. Every other server of the matrix gets 5
// kills in exactly-once mode, with a smaller load.
func TestMySQLKillLoop(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	forMyServers(t, func(t *testing.T, sc myServerCase, m myServer) {
		if sc.core {
			t.Run("exactly_once", func(t *testing.T) { testMySQLKillLoop(t, m, true, 5, 30_000) })
			return
		}
		t.Run("exactly_once", func(t *testing.T) { testMySQLKillLoop(t, m, true, 20, 150_000) })
		t.Run("at_least_once", func(t *testing.T) { testMySQLKillLoop(t, m, false, 20, 150_000) })
	})
}

func testMySQLKillLoop(t *testing.T, m myServer, eos bool, kills int, rows int64) {
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	tables := []string{"t1", "t2", "t3"}
	load := newMyLoad(t, db, tables, rows, 1000)
	// About 300 transactions over about 20s, the time 20 kills take.
	load.pause = 60 * time.Millisecond
	src := &mySource{db: db, dbname: dbname, serverID: myServerID()}
	loadDB := myLoadDB(t, m, dbname)
	(&killLoop{
		src: src, name: name, tables: tables, stats: &load.loadStats,
		runLoad: func(ctx context.Context) error { return load.run(ctx, loadDB) },
		brokers: k.Brokers(), reg: r.URL,
		config: myConfig(name, m.RootDSN(""), dbname, src.serverID, k, r, ""),
		eos:    eos,
		kills:  kills,
	}).run(t)
}

// TestMySQLFaultKafka is TestFaultKafka on MariaDB: the broker restarts
// mid-load, then the link to it is cut for longer than the delivery
// timeout. The checkpoint stored in Kafka (read past the cut proxy) does
// not advance while Kafka is unreachable, no checkpoint commit is
// reported meanwhile, and nothing is lost or duplicated.
func TestMySQLFaultKafka(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	m, r := sharedMariaDB(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, proxy := proxiedKafka(ctx, t)
	tables := []string{"a", "b"}
	load := newMyLoad(t, db, tables, 40_000, 200)
	// About 400 transactions over about 35s: the load runs through the
	// broker restart and the cut.
	load.pause = 80 * time.Millisecond
	src := &mySource{db: db, dbname: dbname, serverID: myServerID()}
	loadDB := myLoadDB(t, m, dbname)
	f := &faultRun{t: t, name: name, src: src, dsn: m.RootDSN(""), brokers: []string{proxy.Addr()}, reg: r.URL,
		tables: tables, stats: &load.loadStats}
	f.run(ctx, 0, func(p *harness.Process) {
		p.WaitFor(ctx, "msg=streaming", 90*time.Second)
		loadErr := make(chan error, 1)
		go func() { loadErr <- load.run(ctx, loadDB) }()
		waitRows(ctx, &load.loadStats, 5_000)
		t.Log("restarting the broker")
		if err := k.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		cutKafka(ctx, t, p, proxy, k.DirectBrokers(), name, load.loadStats.nextID.Load, load.rows, nil)
		if err := <-loadErr; err != nil {
			t.Fatal(err)
		}
	})
}

// TestMySQLFaultDatabase is TestFaultDatabase on MariaDB: the link to the
// server (SQL and binlog connections, through a proxy) is cut during the
// snapshot and during streaming, and the server restarts during
// streaming.
func TestMySQLFaultDatabase(t *testing.T) {
	k, r := sharedKafka(t), sharedRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, m)
	dbname, db := myDB(t, m)
	proxy := harness.NewProxy(t, m.Addr())
	viaProxy := strings.Replace(m.RootDSN(""), m.Addr(), proxy.Addr(), 1)
	tables := []string{"a", "b"}
	const preload = 200_000
	load := newMyLoad(t, db, tables, preload+10_000, 200)
	load.pause = 50 * time.Millisecond // the streaming cut falls inside the load
	src := &mySource{db: db, dbname: dbname, serverID: myServerID()}
	f := &faultRun{t: t, name: testName(t), src: src, dsn: viaProxy, brokers: k.Brokers(), reg: r.URL, tables: tables,
		stats: &load.loadStats}
	// A slow link until the first cut, so that the snapshot is still
	// reading when it falls.
	proxy.Slow(20 * time.Millisecond)
	f.run(ctx, preload, func(p *harness.Process) {
		p.WaitFor(ctx, "snapshot started", 90*time.Second)
		time.Sleep(300 * time.Millisecond)
		t.Log("cutting the database link during the snapshot")
		proxy.Cut()
		proxy.Slow(0)
		time.Sleep(2 * time.Second)
		proxy.Restore()
		p.WaitFor(ctx, `msg="snapshots done"`, 3*time.Minute)
		loadDB := myOpen(t, m, dbname)
		loadDB.SetMaxOpenConns(1)
		loadErr := make(chan error, 1)
		go func() { loadErr <- load.run(ctx, loadDB) }()
		waitRows(ctx, &load.loadStats, preload+3_000)
		t.Log("cutting the database link during streaming")
		proxy.Cut()
		time.Sleep(3 * time.Second)
		proxy.Restore()
		if err := <-loadErr; err != nil {
			t.Fatal(err)
		}
		loadDB.Close()
		t.Log("restarting MariaDB during streaming")
		if err := m.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		// Fresh pools: the old connections died with the server.
		src.db = myOpen(t, m, dbname)
		src.db.SetMaxOpenConns(1)
		t.Cleanup(func() { src.db.Close() })
		loadDB = myLoadDB(t, m, dbname)
		load.rows = preload + 20_000
		if err := load.run(ctx, loadDB); err != nil {
			t.Fatal(err)
		}
		out := p.Output()
		t.Logf("figures: snapshots started %d, snapshots resumed %d, binlog reconnects %d, pipeline restarts %d",
			strings.Count(out, `msg="snapshot started"`), strings.Count(out, `msg="snapshots under way"`)-1,
			strings.Count(out, "binlog connection lost"), strings.Count(out, "restarting from the last checkpoint"))
		logRecoveries(t, out)
		// The snapshot started once and, after the cut, went on from its
		// checkpointed progress.
		if strings.Count(out, `msg="snapshot started"`) != 1 || strings.Count(out, `msg="snapshots under way"`) < 2 ||
			!strings.Contains(out, `msg="snapshots done"`) {
			t.Errorf("the snapshot did not resume after the link cut")
		}
	})
}

// TestMySQLSecondInstance: a second instance with the same name takes
// over from a running one (exactly-once): started under load, and again
// (a third) while the source is idle. Each time the older instance stops
// with an error naming the cause (fenced by the newer producer, or its
// binlog connection taken by the newer one with the same server_id), the
// newer carries on, and no change is lost or delivered twice.
func TestMySQLSecondInstance(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tables := []string{"a", "b"}
	load := newMyLoad(t, db, tables, 40_000, 200)
	src := &mySource{db: db, dbname: dbname, serverID: myServerID()}
	loadDB := myLoadDB(t, m, dbname)
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, src.serverID, k, r, ""))
	// takenOver waits for the older instance to stop and returns why.
	takenOver := func(old *harness.Process, which string) string {
		t.Helper()
		code := old.Wait(60 * time.Second)
		out := old.Output()
		reason := "other"
		switch {
		case strings.Contains(out, "took over (producer fenced)"):
			reason = "fenced"
		case strings.Contains(out, "another replica uses server_id"):
			reason = "binlog_taken"
		}
		if code != 1 || reason == "other" {
			t.Errorf("%s instance: exit code %d, want 1 with an error saying another instance took over; output:\n%s", which, code, tail(out, 3000))
		}
		return reason
	}

	a := harness.Start(t, nil, "run", "-c", cfg)
	a.WaitFor(ctx, "msg=streaming", 90*time.Second)
	loadErr := make(chan error, 1)
	go func() { loadErr <- load.run(ctx, loadDB) }()
	waitRows(ctx, &load.loadStats, 10_000)
	b := harness.Start(t, nil, "run", "-c", cfg)
	first := takenOver(a, "first")
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	src.waitCaughtUp(t, k.Brokers(), name, 3*time.Minute)

	// Idle: nothing makes the older instance touch Kafka.
	c := harness.Start(t, nil, "run", "-c", cfg)
	c.WaitFor(ctx, "msg=streaming", 90*time.Second)
	second := takenOver(b, "second")
	load.rows = 41_000
	if err := load.run(ctx, loadDB); err != nil {
		t.Fatal(err)
	}
	if c.Exited() {
		t.Fatalf("the newest instance stopped; output:\n%s", c.Output())
	}
	src.waitCaughtUp(t, k.Brokers(), name, 3*time.Minute)
	topics := make([]string, len(tables))
	for i, tb := range tables {
		topics[i] = src.prefix(name) + tb
	}
	rd := harness.NewReader(t, k.Brokers(), r.URL, topics...)
	evs := rd.Quiet(ctx, t, 3*time.Second)
	rep := harness.Check(evs, nil)
	bad := compareFinal(t, evs, src.prefix(name), src.finalState(t, tables))
	lost := lostEvents(rep, load.changes.Load())
	t.Logf("figures: first_stopped=%s second_stopped_idle=%s source_changes=%d lost=%d %s final_state_mismatches=%d",
		first, second, load.changes.Load(), lost, rep, bad)
	if lost != 0 || rep.Duplicates != 0 || rep.OrderViolations != 0 || bad != 0 {
		t.Errorf("instances taking over: %s, lost %d, %d final-state mismatches", rep, lost, bad)
	}
	if code := c.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}

// logRecoveries logs what Sluice recovered from: each pipeline restart and
// binlog reconnect, with its error.
func logRecoveries(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "restarting from the last checkpoint") || strings.Contains(l, "binlog connection lost") ||
			strings.Contains(l, "snapshot started") || strings.Contains(l, "snapshot of table started") || strings.Contains(l, "snapshots done") {
			if i := strings.Index(l, "msg="); i >= 0 {
				l = l[i:]
			}
			t.Logf("  %.260s", l)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
