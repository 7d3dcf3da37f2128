package integration

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLSnapshotHandoff inserts at full speed into three tables while
// the snapshot reads them in chunks, in parallel, and after it: every id
// must arrive exactly once (as a snapshot read or as a create), in order
// per key. MariaDB reports the binlog position of a consistent snapshot,
// so the snapshot's start takes no lock, with RELOAD or without it (the
// user then needs only the signal table's grant besides replication).
// MySQL reads the position under FLUSH TABLES WITH READ LOCK (RELOAD);
// without RELOAD it may repeat rows (docs/mysql.md), so it runs with all
// privileges only, and on a smaller table.
func TestMySQLSnapshotHandoff(t *testing.T) {
	forMyServers(t, func(t *testing.T, sc myServerCase, m myServer) {
		t.Run("all_privileges", func(t *testing.T) { testMySQLHandoff(t, sc, m, "ALL PRIVILEGES", false) })
		if sc.mariadb {
			t.Run("without_reload", func(t *testing.T) {
				testMySQLHandoff(t, sc, m, "SELECT, REPLICATION SLAVE, BINLOG MONITOR", true)
			})
		}
	})
}

func testMySQLHandoff(t *testing.T, sc myServerCase, m myServer, grants string, signalGrant bool) {
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	user := "cdc_" + fmt.Sprint(myServerID())
	myExec(t, db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'Cdc-s3cret'", user))
	myExec(t, db, fmt.Sprintf("GRANT %s ON *.* TO '%s'@'%%'", grants, user))
	t.Cleanup(func() { _, _ = db.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	if signalGrant {
		mySignalGrant(t, db, user)
	}
	tables := []string{"items_a", "items_b", "items_c"}
	preload := int64(90_000)
	if sc.core {
		preload = 30_000
	}
	for i, tb := range tables {
		myExec(t, db, fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, v int NOT NULL, pad varchar(40))", tb))
		// ids i+1, i+4, ...: table = (id-1) % 3.
		myExec(t, db, fmt.Sprintf("INSERT INTO %s SELECT seq, 0, "+myPad+" FROM %s", tb, mySeq(t, db, int64(i+1), preload, 3)))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var next atomic.Int64
	next.Store(preload + 1)
	done := make(chan error, 1)
	go func() {
		w := myOpen(t, m, dbname)
		defer w.Close()
		for ctx.Err() == nil {
			id := next.Load()
			tx, err := w.BeginTx(ctx, nil)
			if err == nil {
				// Three rows, one per table, in one transaction.
				for j := int64(0); j < 3 && err == nil; j++ {
					_, err = tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s VALUES (?, 1, 'live')", tables[(id+j-1)%3]), id+j)
				}
				if err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				done <- err
				return
			}
			next.Store(id + 3)
		}
		done <- nil
	}()
	time.Sleep(300 * time.Millisecond) // the writer runs before the snapshot starts
	cfg := harness.WriteConfig(t, myConfig(name, m.DSN(user, "Cdc-s3cret", ""), dbname, myServerID(), k, r, "snapshot: {parallelism: 3, chunk_size: 5000}\n"))
	// Compressed with lz4 (the default is none).
	p := harness.Start(t, []string{"SLUICE_KAFKA_COMPRESSION=lz4"}, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, 180*time.Second)
	time.Sleep(2 * time.Second) // keep writing after the snapshot
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	last := next.Load() - 1
	topics := make([]string, len(tables))
	for i, tb := range tables {
		topics[i] = name + "." + dbname + "." + tb
	}
	rd := harness.NewReader(t, k.Brokers(), r.URL, topics...)
	evs := rd.ReadUntil(context.Background(), t, 180*time.Second, func(evs []harness.Event) bool { return int64(len(evs)) >= last })
	seen := map[int64]string{}
	dups, wrongTable := 0, 0
	for _, e := range evs {
		id := harness.Int(e.Key, "id")
		if prev, ok := seen[id]; ok {
			dups++
			if dups < 5 {
				t.Errorf("id %d delivered twice (%s then %s)", id, prev, e.Op())
			}
		}
		if !strings.HasSuffix(e.Topic, tables[(id-1)%3]) {
			wrongTable++
		}
		seen[id] = e.Op()
	}
	missing, reads, creates := 0, 0, 0
	for id := int64(1); id <= last; id++ {
		switch seen[id] {
		case "":
			missing++
			if missing < 5 {
				t.Errorf("id %d never delivered", id)
			}
		case "r":
			reads++
		case "c":
			creates++
		}
	}
	rep := harness.Check(evs, nil)
	chunks := strings.Count(p.Output(), `msg="snapshot chunk read"`)
	t.Logf("figures: ids=%d snapshot_reads=%d streamed_creates=%d missing=%d duplicated=%d order_violations=%d chunks=%d",
		last, reads, creates, missing, dups, rep.OrderViolations, chunks)
	ftwrl := strings.Contains(p.Output(), `msg="snapshot start: position read under FLUSH TABLES WITH READ LOCK"`)
	if sc.mariadb && strings.Contains(p.Output(), "FLUSH TABLES") {
		t.Error("the MariaDB snapshot took FLUSH TABLES WITH READ LOCK")
	}
	if !sc.mariadb && !ftwrl {
		t.Error("the MySQL snapshot did not read its position under FLUSH TABLES WITH READ LOCK")
	}
	if want := int(preload / 5000); chunks < want {
		t.Errorf("%d chunks read, want at least %d", chunks, want)
	}
	if creates == 0 || int64(reads) < preload {
		t.Errorf("expected the handoff to split ids between the snapshot (%d) and the stream (%d)", reads, creates)
	}
	if missing != 0 || dups != 0 || rep.OrderViolations != 0 || wrongTable != 0 {
		t.Fatalf("handoff lost or repeated events (%d on the wrong topic)", wrongTable)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
