package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLSnapshotBinaryKey snapshots, in small chunks under concurrent
// updates, a table whose primary key is (BINARY(4), VARCHAR): the binlog
// drops a BINARY value's trailing zero bytes and a SELECT keeps them, and
// the engine must still find a chunk's row and the stream's change of the
// same key equal, or a stale snapshot row would follow a newer update.
// Composite keys also exercise the chunks' row-constructor comparisons.
func TestMySQLSnapshotBinaryKey(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	const rows = 6000
	myExec(t, db, "CREATE TABLE bk (k binary(4) NOT NULL, s varchar(20) NOT NULL, v bigint NOT NULL, PRIMARY KEY (k, s))")
	// k is one byte and three zero bytes of padding; 200 rows share each k.
	myExec(t, db, fmt.Sprintf("INSERT INTO bk SELECT CHAR(seq %% 30 + 1), CONCAT('s', seq), 0 FROM seq_1_to_%d", rows))
	// An estimate, so that the table is split into key ranges at keys
	// read at offsets of the primary index, zero padding included [S10].
	myExec(t, db, "ANALYZE TABLE bk")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var updates int
	loadDone := make(chan error, 1)
	go func() {
		w := myOpen(t, m, dbname)
		defer w.Close()
		rng := rand.New(rand.NewPCG(9, 10))
		for ctx.Err() == nil {
			if _, err := w.ExecContext(ctx, "UPDATE bk SET v = v + 1 WHERE k = CAST(CHAR(?) AS BINARY(4)) AND s LIKE ?",
				1+rng.IntN(30), fmt.Sprintf("s%d%%", 1+rng.IntN(9))); err != nil && ctx.Err() == nil {
				loadDone <- err
				return
			}
			updates++
		}
		loadDone <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, "snapshot: {chunk_size: 100}\n"))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, 2*time.Minute)
	cancel()
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	myWaitCaughtUp(t, db, k.Brokers(), name, time.Minute)

	var wantSum int64
	if err := db.QueryRowContext(context.Background(), "SELECT SUM(v) FROM bk").Scan(&wantSum); err != nil {
		t.Fatal(err)
	}
	evs := harness.NewReader(t, k.Brokers(), r.URL, name+"."+dbname+".bk").Quiet(context.Background(), t, 3*time.Second)
	checkSplitSnapshot(t, evs, p, dbname+".bk", rows, updates, wantSum)
}
