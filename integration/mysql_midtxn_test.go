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

// TestMySQLExactlyOnceBreakMidTransaction cuts the binlog connection (a
// proxy between Sluice and MariaDB) in the middle of one large source
// transaction, in exactly-once mode, and then:
//
//   - slow_replay: the server sends the transaction again slowly, so the
//     quiet-stream timer (heartbeat_interval 1s) fires again and again
//     during the replay; Sluice is then killed (-9) before the replay ends;
//   - stop_during_backoff: the link stays cut and Sluice gets SIGINT while
//     it waits to reconnect.
//
// Either way no part of the transaction may be visible to a read_committed
// consumer afterwards, and after a restart every row arrives exactly once.
// Binlog heartbeat events take the same path as the quiet-stream timer
// (capture/mysql TestI1NoIdleWhileInFlight).
func TestMySQLExactlyOnceBreakMidTransaction(t *testing.T) {
	for _, variant := range []string{"slow_replay", "stop_during_backoff"} {
		t.Run(variant, func(t *testing.T) { midTransactionBreak(t, variant) })
	}
}

func midTransactionBreak(t *testing.T, variant string) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	myExec(t, db, "CREATE TABLE r (id bigint PRIMARY KEY, v bigint NOT NULL, pad varchar(200))")
	proxy := harness.NewProxy(t, m.Addr())
	viaProxy := strings.Replace(m.RootDSN(""), m.Addr(), proxy.Addr(), 1)
	cfg := harness.WriteConfig(t, myConfig(name, viaProxy, dbname, myServerID(), k, r, ""))
	eos := []string{"SLUICE_KAFKA_EXACTLY_ONCE=true"}
	p := harness.Start(t, eos, "run", "-c", cfg)
	// The snapshot of the (empty) table is done before the link slows,
	// so the cut meets the binlog connection, not a snapshot watermark.
	p.WaitFor(ctx, "snapshots done", 90*time.Second)

	// About 1.1 MB of row events, forwarded at one 32 KiB chunk per 400 ms:
	// the transaction takes about 14 s to stream, and every gap between
	// chunks is longer than the source's 250 ms quiet-stream timer.
	const rows = 5000
	proxy.Slow(400 * time.Millisecond)
	myExec(t, db, fmt.Sprintf("INSERT INTO r SELECT seq, seq, REPEAT('p', 200) FROM seq_1_to_%d", rows))
	time.Sleep(3 * time.Second)
	proxy.Cut()
	p.WaitFor(ctx, "binlog connection lost", 30*time.Second)
	skip := 0
	if m := regexp.MustCompile(`replay_skip=(\d+)`).FindStringSubmatch(p.Output()); m != nil {
		skip, _ = strconv.Atoi(m[1])
	}
	if skip == 0 || skip >= rows {
		t.Fatalf("the cut did not fall inside the transaction (replay_skip=%d of %d rows)", skip, rows)
	}

	switch variant {
	case "slow_replay":
		proxy.Restore() // still slow
		deadline := time.Now().Add(60 * time.Second)
		for strings.Count(p.Output(), "msg=streaming") < 2 {
			if time.Now().After(deadline) || p.Exited() {
				t.Fatalf("no reconnect:\n%s", p.Output())
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(3 * time.Second) // several quiet-stream timer periods into the replay
		p.Kill()
	case "stop_during_backoff":
		if code := p.Interrupt(60 * time.Second); code != 0 {
			t.Fatalf("graceful stop during the reconnect backoff: exit code %d\n%s", code, p.Output())
		}
		proxy.Restore()
	}

	topic := name + "." + dbname + ".r"
	visible := harness.NewReader(t, k.Brokers(), r.URL, topic).Quiet(ctx, t, 3*time.Second)
	if n := len(visible); n != 0 && n != rows {
		t.Fatalf("%d of the transaction's %d rows are visible to read_committed after the break (replay_skip=%d)", n, rows, skip)
	}

	proxy.Slow(0)
	p2 := harness.Start(t, eos, "run", "-c", cfg)
	myWaitCaughtUp(t, db, k.Brokers(), name, 120*time.Second)
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)
	evs := rd.ReadUntil(ctx, t, 120*time.Second, func(e []harness.Event) bool { return len(e) >= rows })
	evs = append(evs, rd.Quiet(ctx, t, 2*time.Second)...)
	rep := harness.Check(evs, nil)
	t.Logf("figures: variant=%s rows=%d replay_skip=%d visible_after_break=%d %s", variant, rows, skip, len(visible), rep)
	if rep.Events != rows || rep.Keys != rows || rep.Duplicates != 0 || rep.OrderViolations != 0 {
		t.Errorf("want every row exactly once, got %s", rep)
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
