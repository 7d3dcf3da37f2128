package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLTaggedGTIDKillLoop: on each MySQL of the matrix (tagged GTIDs
// are MySQL 8.3+), a load whose transactions alternate between two GTID
// tags and none (SET gtid_next = 'AUTOMATIC:tag' / 'AUTOMATIC') streams in
// exactly-once mode through 5 SIGKILLs. Every checkpoint after the first
// tagged transaction holds tagged GTIDs, which Sluice sends in MySQL's
// tagged format, so each restart resumes by GTID (docs/mysql.md): lost 0,
// duplicated 0, final state equal. The test has a server of its own: once
// a server has executed a tagged GTID, every checkpoint of any connector
// on it holds one, and the shared server's other tests would then all
// stream from tagged sets.
func TestMySQLTaggedGTIDKillLoop(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	forMySQLServers(t, func(t *testing.T, sc myServerCase) {
		m := myCluster{series: sc.series}.start(t, 1)
		k, r := sharedKafka(t), sharedRegistry(t)
		dbname, db := myDB(t, m)
		name := testName(t)
		tables := []string{"t1", "t2"}
		load := newMyLoad(t, db, tables, 20_000, 800)
		// A tagged transaction before Sluice starts: the first checkpoint
		// (the snapshot's start) already holds a tagged GTID.
		myExec(t, db, "SET gtid_next = 'AUTOMATIC:sluice_pre'")
		myExec(t, db, "CREATE TABLE pre (id int PRIMARY KEY)")
		myExec(t, db, "SET gtid_next = 'AUTOMATIC'")
		load.pause = 60 * time.Millisecond
		load.gtidNext = func(n int64) string {
			return [...]string{"AUTOMATIC:sluice_a", "AUTOMATIC", "AUTOMATIC:sluice_b"}[n%3]
		}
		src := &mySource{db: db, dbname: dbname, serverID: myServerID()}
		loadDB := myLoadDB(t, m, dbname)
		taggedResumes := 0
		(&killLoop{
			src: src, name: name, tables: tables, stats: &load.loadStats,
			runLoad: func(ctx context.Context) error { return load.run(ctx, loadDB) },
			brokers: k.Brokers(), reg: r.URL,
			config: myConfig(name, m.RootDSN(""), dbname, src.serverID, k, r, ""),
			eos:    true,
			kills:  5,
			onKill: func(cp *checkpoint.Checkpoint) {
				if cp != nil && strings.Contains(cp.Position.GTIDSet, ":sluice_") {
					taggedResumes++
				}
			},
		}).run(t)
		// One more start from the final, tagged checkpoint: by GTID.
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, src.serverID, k, r, "")))
		p.WaitFor(context.Background(), "msg=streaming", 90*time.Second)
		if !strings.Contains(p.Output(), "by=gtid") || strings.Contains(p.Output(), "by=file:position") {
			t.Errorf("a tagged checkpoint did not resume by GTID:\n%s", grepLines(p.Output(), "msg=streaming"))
		}
		if code := p.Interrupt(60 * time.Second); code != 0 {
			t.Errorf("graceful stop exit code %d", code)
		}
		cp := storedCheckpoint(t, k.Brokers(), name)
		if cp == nil || !strings.Contains(cp.Position.GTIDSet, ":sluice_a:") || !strings.Contains(cp.Position.GTIDSet, ":sluice_b:") {
			t.Fatalf("final checkpoint %+v: want both GTID tags in its set", cp)
		}
		// A kill before the first checkpoint restarts from scratch; the
		// others resume from tagged checkpoints.
		if taggedResumes == 0 {
			t.Error("no restart resumed from a checkpoint with tagged GTIDs")
		}
		t.Logf("figures: restarts_from_tagged_checkpoints=%d final_checkpoint=%q", taggedResumes, cp.Position)
	})
}
