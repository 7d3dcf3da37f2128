package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLSnapshotOnDemand is TestPostgresSnapshotOnDemand on MariaDB:
// `sluice snapshot --wait` writes a request into the signal table and the
// running instance snapshots the table while it streams, under concurrent
// updates and deletes; the final state per key equals the table and no
// snapshot row comes after a newer change. A request made while the
// instance is stopped is carried out after it starts (the binlog keeps
// it). A table the instance does not capture is refused.
func TestMySQLSnapshotOnDemand(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	const rows = 20_000
	myExec(t, db, "CREATE TABLE t (id bigint PRIMARY KEY, v bigint NOT NULL, pad varchar(40))")
	myExec(t, db, fmt.Sprintf("INSERT INTO t SELECT seq, 0, MD5(seq) FROM seq_1_to_%d", rows))
	myExec(t, db, "CREATE TABLE other (id int PRIMARY KEY)")
	cfg := harness.WriteConfig(t, strings.Replace(myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, "snapshot: {chunk_size: 500}\n"),
		"  tables: ["+dbname+".*]\n", "  tables: ["+dbname+".t]\n", 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, 90*time.Second)

	// Updates (v+1) and deletes while the requested snapshot runs.
	// The load stops between transactions: a statement cancelled in
	// flight may still commit after the final state is read.
	var stopLoad atomic.Bool
	loadDone := make(chan error, 1)
	go func() {
		w := myOpen(t, m, dbname)
		defer w.Close()
		rng := rand.New(rand.NewPCG(7, 8))
		for !stopLoad.Load() {
			lo := 1 + rng.Int64N(rows)
			err := myTxn(context.Background(), w, fmt.Sprintf("UPDATE t SET v = v + 1 WHERE id BETWEEN %d AND %d", lo, lo+10),
				fmt.Sprintf("DELETE FROM t WHERE id = %d", 1+rng.Int64N(rows)))
			if err != nil {
				loadDone <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		loadDone <- nil
	}()
	code, out := harness.Run(t, 2*time.Minute, nil, "snapshot", "-c", cfg, "--wait", dbname+".t")
	t.Logf("sluice snapshot --wait: exit %d:\n%s", code, out)
	if code != 0 || !strings.Contains(out, "done") {
		t.Fatalf("sluice snapshot --wait: exit %d, want 0 and done", code)
	}
	stopLoad.Store(true)
	cancel()
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	myWaitCaughtUp(t, db, k.Brokers(), name, time.Minute)
	topic := name + "." + dbname + ".t"
	checkRequested(t, k.Brokers(), r.URL, topic, name+"."+dbname+".", myFinalState(t, db, []string{"t"}), cfg, p, dbname+".other", dbname+".t", rows)
}
