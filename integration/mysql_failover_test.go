package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestMySQLFailover: a primary with two GTID replicas on loopback, on
// MariaDB and on each MySQL of the matrix. Sluice streams from the primary,
// through one address, in exactly-once mode under a mixed multi-table
// load; one replica stops replicating halfway. The primary is killed
// (SIGKILL). sluice check on the lagging replica names the GTIDs it lacks.
// The up-to-date replica is promoted and the address moved to it: the
// running Sluice notices the other server when it reconnects and follows
// the failover by GTID while the load goes on there: nothing lost, nothing
// duplicated (a change is identified by its GTID, the same on every
// server), per-key order kept, the final state equal to the new primary's
// tables, and the checkpoint names the new server. Last, sluice run on the
// lagging replica is refused, naming the missing GTIDs. On a MySQL with
// tagged GTIDs (8.3+) the load's transactions alternate between two GTID
// tags and none, on the old primary and the new one, so the checkpoints
// followed and refused hold tagged GTIDs, and so do the missing ones named.
func TestMySQLFailover(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	for _, sc := range myServers() {
		t.Run(sc.name, func(t *testing.T) { testMySQLFailover(t, sc) })
	}
}

// myCluster is a primary and its replicas, of one flavor.
type myCluster struct {
	mariadb bool
	series  string
}

func (c myCluster) start(t *testing.T, id int) myServer {
	t.Helper()
	ctx, cancel := startCtx()
	defer cancel()
	if c.mariadb {
		m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{ExtraArgs: []string{
			"--server-id=" + strconv.Itoa(id), "--log-slave-updates=ON"}})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Cleanup(t, m)
		return m
	}
	m, err := testenv.StartMySQL(ctx, testenv.MySQLOptions{Series: c.series, ServerID: id})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, m)
	return m
}

// replicate makes replica follow primary by GTID.
func (c myCluster) replicate(t *testing.T, replica *sql.DB, primary myServer) {
	t.Helper()
	host, port, _ := strings.Cut(primary.Addr(), ":")
	pw := myRootPassword(primary)
	if c.mariadb {
		myExec(t, replica, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%s, MASTER_USER='root', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos", host, port, pw))
		myExec(t, replica, "START SLAVE")
		return
	}
	myExec(t, replica, fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST='%s', SOURCE_PORT=%s, SOURCE_USER='root', SOURCE_PASSWORD='%s', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1", host, port, pw))
	myExec(t, replica, "START REPLICA")
}

// caughtUp waits until replica has executed every transaction primary has.
func (c myCluster) caughtUp(t *testing.T, replica, primary *sql.DB) {
	t.Helper()
	q, wait := "SELECT @@GLOBAL.gtid_executed", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, 60)"
	if c.mariadb {
		q, wait = "SELECT @@GLOBAL.gtid_binlog_pos", "SELECT MASTER_GTID_WAIT(?, 60)"
	}
	var set string
	if err := primary.QueryRowContext(context.Background(), q).Scan(&set); err != nil {
		t.Fatal(err)
	}
	var res int
	if err := replica.QueryRowContext(context.Background(), wait, set).Scan(&res); err != nil || res != 0 {
		t.Fatalf("replica did not catch up with %s: %d, %v", set, res, err)
	}
}

func (c myCluster) stopReplication(t *testing.T, replica *sql.DB, reset bool) {
	t.Helper()
	if c.mariadb {
		myExec(t, replica, "STOP SLAVE")
		if reset {
			myExec(t, replica, "RESET SLAVE ALL")
		}
		return
	}
	myExec(t, replica, "STOP REPLICA")
	if reset {
		myExec(t, replica, "RESET REPLICA ALL")
	}
}

func testMySQLFailover(t *testing.T, sc myServerCase) {
	c := myCluster{mariadb: sc.mariadb, series: sc.series}
	k, r := sharedKafka(t), sharedRegistry(t)
	primary, replica, lagging := c.start(t, 1), c.start(t, 2), c.start(t, 3)
	rdb, ldb := myOpen(t, replica, ""), myOpen(t, lagging, "")
	defer rdb.Close()
	defer ldb.Close()
	c.replicate(t, rdb, primary)
	c.replicate(t, ldb, primary)

	dbname, db := myDB(t, primary) // created through replication on both replicas
	name := testName(t)
	tables := []string{"t1", "t2"}
	load := newMyLoad(t, db, tables, 3_000, 200)
	loadDB := myLoadDB(t, primary, dbname)
	tagged := !c.mariadb && myHasGTIDTags(t, db)
	if tagged {
		load.gtidNext = func(n int64) string {
			return [...]string{"AUTOMATIC:sluice_a", "AUTOMATIC", "AUTOMATIC:sluice_b"}[n%3]
		}
	}
	serverID := myServerID()
	config := func(m myServer) string {
		return harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, serverID, k, r, ""))
	}
	env := []string{"SLUICE_KAFKA_EXACTLY_ONCE=true"}
	ctx := context.Background()
	// Sluice reaches the primary through one address (a proxy standing for
	// a virtual IP or DNS name), which the failover moves to the replica.
	addr := harness.NewProxy(t, primary.Addr())
	dsn := fmt.Sprintf("mysql://root:%s@%s/", myRootPassword(primary), addr.Addr())
	p := harness.Start(t, env, "run", "-c", harness.WriteConfig(t, myConfig(name, dsn, dbname, serverID, k, r, "")))
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)

	// MariaDB: transactions in a second GTID domain too, so that the
	// checkpoint's position has two domains to check on the new server.
	otherDomain := func(id int) {
		if c.mariadb {
			myExec(t, db, "SET SESSION gtid_domain_id = 1")
			myExec(t, db, fmt.Sprintf("INSERT INTO d1 VALUES (%d)", id))
			myExec(t, db, "SET SESSION gtid_domain_id = 0")
		}
	}
	if c.mariadb {
		myExec(t, db, "CREATE TABLE d1 (id int PRIMARY KEY)")
	}

	// Half the load reaches both replicas; the lagging one stops there.
	otherDomain(1)
	if err := load.run(ctx, loadDB); err != nil {
		t.Fatal(err)
	}
	c.caughtUp(t, ldb, db)
	c.stopReplication(t, ldb, false)
	load.rows = 6_000
	if err := load.run(ctx, loadDB); err != nil {
		t.Fatal(err)
	}
	otherDomain(2)
	c.caughtUp(t, rdb, db)
	myWaitCaughtUp(t, db, k.Brokers(), name, 2*time.Minute)
	before := storedCheckpoint(t, k.Brokers(), name)
	if c.mariadb && !strings.Contains(before.Position.GTIDSet, "1-1-") {
		t.Fatalf("checkpoint %s: want GTIDs of domains 0 and 1", before.Position)
	}
	if tagged && (!strings.Contains(before.Position.GTIDSet, ":sluice_a:") || !strings.Contains(before.Position.GTIDSet, ":sluice_b:")) {
		t.Fatalf("checkpoint %s: want GTIDs of both tags", before.Position)
	}

	// The primary dies; Sluice keeps reconnecting to the address.
	if err := primary.(interface{ Kill() error }).Kill(); err != nil {
		t.Fatal(err)
	}
	missing := "missing GTIDs "
	if c.mariadb {
		missing = "missing domain 0: checkpoint at "
	}
	// missingOn is what the lagging replica lacks of a checkpoint, as the
	// refusal names it (MySQL; tags included).
	missingOn := func(cp string) string {
		if c.mariadb {
			return missing
		}
		want, err := mycapture.ParseMySQLGTIDSet(cp)
		if err != nil {
			t.Fatal(err)
		}
		var executed string
		if err := ldb.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&executed); err != nil {
			t.Fatal(err)
		}
		have, err := mycapture.ParseMySQLGTIDSet(executed)
		if err != nil {
			t.Fatal(err)
		}
		m := want.Minus(have).String()
		if tagged && (!strings.Contains(m, ":sluice_a:") || !strings.Contains(m, ":sluice_b:")) {
			t.Fatalf("the lagging replica lacks %s of checkpoint %s: want GTIDs of both tags missing", m, cp)
		}
		return missing + m + " "
	}
	// sluice check on the lagging replica: it lacks the second half.
	code, out := harness.Run(t, time.Minute, nil, "check", "-c", config(lagging))
	if want := missingOn(before.Position.GTIDSet); code != 1 || !strings.Contains(out, "the checkpoint belongs to server "+before.ServerID) || !strings.Contains(out, want) {
		t.Errorf("sluice check on the lagging replica: exit %d, want 1 and the missing GTIDs named (%s):\n%s", code, want, out)
	}

	// The replica is promoted and the address moves to it: the running
	// Sluice notices the other server on its reconnect and follows.
	c.stopReplication(t, rdb, true)
	code, out = harness.Run(t, time.Minute, nil, "check", "-c", config(replica))
	if !strings.Contains(out, "follows the failover") {
		t.Errorf("sluice check on the promoted replica (exit %d) does not say it follows the failover:\n%s", code, out)
	}
	addr.Retarget(replica.Addr())
	p.WaitFor(ctx, `msg="following a failover`, 3*time.Minute)
	p.WaitFor(ctx, "by=gtid", 90*time.Second)
	rdbData := myOpen(t, replica, dbname)
	rdbData.SetMaxOpenConns(1)
	defer rdbData.Close()
	load.rows = 9_000
	if err := load.run(ctx, rdbData); err != nil {
		t.Fatal(err)
	}
	myWaitCaughtUp(t, rdbData, k.Brokers(), name, 2*time.Minute)
	after := storedCheckpoint(t, k.Brokers(), name)

	topics := make([]string, len(tables))
	for i, tb := range tables {
		topics[i] = name + "." + dbname + "." + tb
	}
	evs := harness.NewReader(t, k.Brokers(), r.URL, topics...).Quiet(ctx, t, 3*time.Second)
	dups, disorder, unique := myGTIDCheck(t, evs, c.mariadb, before.ServerID)
	lost := int(load.changes.Load()) - unique
	bad := compareFinal(t, evs, name+"."+dbname+".", myFinalState(t, rdbData, tables))
	t.Logf("figures: txns=%d source_changes=%d events=%d lost=%d duplicated=%d order_violations=%d final_state_mismatches=%d checkpoint_before=%s %q checkpoint_after=%s %q",
		load.txns.Load(), load.changes.Load(), len(evs), lost, dups, disorder, bad, before.ServerID, before.Position, after.ServerID, after.Position)
	if lost != 0 || dups != 0 || disorder != 0 || bad != 0 {
		t.Errorf("failover: lost %d, duplicated %d, order violations %d, final-state mismatches %d", lost, dups, disorder, bad)
	}
	if after.ServerID == before.ServerID || after.Position.GTIDSet == "" {
		t.Errorf("checkpoint after the failover %s %v: want the new server's identity and a GTID set", after.ServerID, after.Position)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}

	// sluice run on the lagging replica is refused, naming what it lacks.
	if tagged && (!strings.Contains(after.Position.GTIDSet, strings.TrimPrefix(after.ServerID, "mysql:")+":sluice_a:") ||
		!strings.Contains(after.Position.GTIDSet, strings.TrimPrefix(after.ServerID, "mysql:")+":sluice_b:")) {
		t.Errorf("checkpoint after the failover %s: want tagged GTIDs of the new primary", after.Position)
	}
	code, out = harness.Run(t, 2*time.Minute, env, "run", "-c", config(lagging))
	if want := missingOn(after.Position.GTIDSet); code != 1 || !strings.Contains(out, "the checkpoint belongs to server "+after.ServerID) || !strings.Contains(out, want) {
		t.Fatalf("the lagging replica: exit %d, want 1 and a refusal naming the missing GTIDs (%s):\n%s", code, want, grepLines(out, "level=ERROR"))
	}
	t.Logf("refusal: %s", strings.TrimSpace(grepLines(out, missing)))
}

// myGTIDCheck identifies each change by topic, key, op and its
// transaction's GTID, which are the same on every server of a replication
// topology (binlog positions are not), and counts duplicates and per-key
// order violations. A transaction's order: MariaDB's sequence number in
// domain 0; MySQL's old primary's transactions (oldID "mysql:<uuid>")
// before any other, then by number within a uuid or uuid:tag (tags number
// their transactions apart, so two tags' numbers say nothing of their
// order). Across tags the row's v, which the load only ever increments,
// must not go back.
func myGTIDCheck(t *testing.T, evs []harness.Event, mariadb bool, oldID string) (dups, disorder, unique int) {
	t.Helper()
	oldUUID := strings.TrimPrefix(oldID, "mysql:")
	type ord struct {
		rank, n, v int64
		src        string
	}
	seen := map[string]bool{}
	last := map[string]ord{}
	for _, e := range evs {
		if e.Value == nil || e.Op() == "r" {
			continue
		}
		gtid, _ := e.Source()["gtid"].(string)
		var o ord
		if mariadb {
			parts := strings.Split(gtid, "-")
			if len(parts) != 3 {
				t.Fatalf("event without a MariaDB GTID: %v", e.Source())
			}
			o.n, _ = strconv.ParseInt(parts[2], 10, 64)
		} else {
			i := strings.LastIndexByte(gtid, ':')
			if i < 0 {
				t.Fatalf("event without a MySQL GTID: %v", e.Source())
			}
			o.n, _ = strconv.ParseInt(gtid[i+1:], 10, 64)
			o.src = gtid[:i]
			if !strings.HasPrefix(gtid, oldUUID) {
				o.rank = 1
			}
		}
		img := e.After()
		if img == nil {
			img = e.Before()
		}
		o.v = myInt(t, img["v"])
		key := e.Topic + "|" + harness.KeyString(e.Key)
		id := key + "|" + e.Op() + "|" + gtid
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		unique++
		if l, ok := last[key]; ok && (o.rank < l.rank || o.rank == l.rank && o.src == l.src && o.n < l.n || o.v < l.v) {
			disorder++
		}
		last[key] = o
	}
	return dups, disorder, unique
}

// myInt is a bigint column's decoded value.
func myInt(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	t.Fatalf("v = %v (%T): want an integer", v, v)
	return 0
}

// myHasGTIDTags reports whether the server has tagged GTIDs (MySQL 8.3+).
func myHasGTIDTags(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var v string
	if err := db.QueryRowContext(context.Background(), "SELECT VERSION()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("MySQL version %q: %v", v, err)
	}
	return major > 8 || major == 8 && minor >= 3
}
