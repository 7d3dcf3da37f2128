package integration

import (
	"context"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLBigTransaction delivers one 200k-row transaction (one INSERT
// ... SELECT, so many rows per binlog event) whole: every row once, all
// with the transaction's GTID, committed to Kafka together with the
// checkpoint after it. It reports the peak RSS of the sluice process.
func TestMySQLBigTransaction(t *testing.T) {
	const rows = 200_000
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE big (id bigint PRIMARY KEY, v bigint NOT NULL, pad varchar(100))")
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	rssBefore, err := p.PeakRSSKiB()
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	myExec(t, db, "INSERT INTO big SELECT seq, seq * 7, REPEAT('x', 100) FROM seq_1_to_200000")
	inserted := time.Since(start)
	myWaitCaughtUp(t, db, k.Brokers(), name, 300*time.Second)
	delivered := time.Since(start)
	peak, err := p.PeakRSSKiB()
	if err != nil {
		t.Fatal(err)
	}

	rd := harness.NewReader(t, k.Brokers(), r.URL, name+"."+dbname+".big")
	evs := rd.ReadUntil(ctx, t, 120*time.Second, func(e []harness.Event) bool { return len(e) >= rows })
	rep := harness.Check(evs, nil)
	gtids := map[any]int{}
	for _, e := range evs {
		gtids[e.Source()["gtid"]]++
		if e.Op() != "c" || harness.Int(e.After(), "v") != 7*harness.Int(e.Key, "id") {
			t.Fatalf("event %v", e.Value)
		}
	}
	t.Logf("figures: rows=%d events=%d keys=%d duplicates=%d gtids=%d insert_seconds=%.1f delivered_seconds=%.1f peak_rss_mib=%.1f rss_before_mib=%.1f",
		rows, rep.Events, rep.Keys, rep.Duplicates, len(gtids), inserted.Seconds(), delivered.Seconds(), float64(peak)/1024, float64(rssBefore)/1024)
	if rep.Events != rows || rep.Keys != rows || rep.Duplicates != 0 || len(gtids) != 1 {
		t.Errorf("want %d events of %d keys in one transaction, got %s and %d GTIDs", rows, rows, rep, len(gtids))
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
