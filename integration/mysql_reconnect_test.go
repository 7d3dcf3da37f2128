package integration

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLReconnect kills Sluice's binlog connection on the server (KILL
// of its dump thread) again and again while large transactions stream, in
// at-least-once mode. The source reconnects from the last transaction
// boundary and skips the part of the interrupted transaction it already
// delivered, so even at-least-once delivers every change exactly once and
// the process never restarts.
func TestMySQLReconnect(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	myExec(t, db, "CREATE TABLE r (id bigint PRIMARY KEY, v bigint NOT NULL, pad varchar(200))")
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	p := harness.Start(t, []string{"SLUICE_KAFKA_EXACTLY_ONCE=false"}, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)

	const txns, perTxn = 10, 10_000
	loadDone := make(chan error, 1)
	go func() {
		load := myOpen(t, m, dbname)
		defer load.Close()
		for i := range txns {
			q := fmt.Sprintf("INSERT INTO r SELECT seq, seq, REPEAT('p', 200) FROM seq_%d_to_%d", i*perTxn+1, (i+1)*perTxn)
			if _, err := load.ExecContext(ctx, q); err != nil {
				loadDone <- err
				return
			}
		}
		loadDone <- nil
	}()

	// Kill the dump thread whenever it is there, soon after each reconnect,
	// so that some kills also interrupt the replay of an interrupted
	// transaction.
	admin := myOpen(t, m, "")
	defer admin.Close()
	kills := 0
	loaded := false
	for !loaded || kills < 8 {
		select {
		case err := <-loadDone:
			if err != nil {
				t.Fatal(err)
			}
			loaded = true
		case <-time.After(150 * time.Millisecond):
		}
		if kills >= 20 {
			break
		}
		var id int64
		err := admin.QueryRowContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' LIMIT 1").Scan(&id)
		if err == nil {
			if _, err := admin.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err == nil {
				kills++
			}
		}
		if p.Exited() {
			t.Fatalf("sluice exited:\n%s", p.Output())
		}
	}
	for !loaded {
		if err := <-loadDone; err != nil {
			t.Fatal(err)
		}
		loaded = true
	}
	myWaitCaughtUp(t, db, k.Brokers(), name, 180*time.Second)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+"."+dbname+".r")
	evs := rd.ReadUntil(ctx, t, 180*time.Second, func(e []harness.Event) bool { return len(e) >= txns*perTxn })
	evs = append(evs, rd.Quiet(ctx, t, 2*time.Second)...)
	rep := harness.Check(evs, nil)
	skips := regexp.MustCompile(`replay_skip=(\d+)`).FindAllStringSubmatch(p.Output(), -1)
	midTxn := 0
	for _, s := range skips {
		if n, _ := strconv.Atoi(s[1]); n > 0 {
			midTxn++
		}
	}
	t.Logf("figures: rows=%d kills=%d reconnects=%d reconnects_mid_transaction=%d %s restarts=%d",
		txns*perTxn, kills, len(skips), midTxn, rep, strings.Count(p.Output(), "restarting from the last checkpoint"))
	if rep.Events != txns*perTxn || rep.Keys != txns*perTxn || rep.Duplicates != 0 || rep.OrderViolations != 0 {
		t.Errorf("want every row once and in order, got %s", rep)
	}
	if midTxn == 0 {
		t.Errorf("no reconnect happened in the middle of a transaction (%d reconnects); the replay path was not exercised", len(skips))
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
