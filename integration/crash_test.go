package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresCrash kills sluice with SIGKILL in the middle of a 100k-row
// multi-table transactional load, restarts it, and compares what arrived
// in Kafka with the source: nothing missing, per-key order kept, the final
// state equal, duplicates only in at-least-once mode, and the slot's
// confirmed_flush_lsn never ahead of the checkpoint Kafka acknowledged.
func TestPostgresCrash(t *testing.T) {
	for _, mode := range []struct {
		name string
		eos  bool
	}{{"at_least_once", false}, {"exactly_once", true}} {
		t.Run(mode.name, func(t *testing.T) { testPostgresCrash(t, mode.eos) })
	}
}

func testPostgresCrash(t *testing.T, eos bool) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	tables := []string{"t1", "t2", "t3"}
	load := newPgLoad(t, db, tables, 100_000, 1000)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	env := []string{fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", eos)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Watch the invariant: the slot's flushed LSN never passes the
	// checkpoint stored in Kafka (read before the checkpoint, so a
	// violation can be missed but never reported falsely).
	slot := "sluice_" + name
	var violations, samples int
	var wmu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		mon, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer mon.Close(context.Background())
		for ctx.Err() == nil {
			flush, ok := slotFlush(ctx, mon, slot)
			if ok {
				cp := storedCheckpoint(t, k.Brokers(), name)
				wmu.Lock()
				samples++
				// Before the first checkpoint the slot sits at its
				// creation point, which Sluice never acknowledged.
				if cp != nil && flush > cp.Position.LSN {
					violations++
					t.Errorf("slot confirmed_flush_lsn %s is ahead of the stored checkpoint %v", flush, cp.Position)
				}
				wmu.Unlock()
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()

	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	loadErr := make(chan error, 1)
	go func() { loadErr <- load.run(ctx, dsn) }()

	// Kill in the middle of the load.
	for load.nextID.Load() < 30_000 {
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	killedAt := load.nextID.Load()
	cpAtKill := storedCheckpoint(t, k.Brokers(), name)
	p2 := harness.Start(t, env, "run", "-c", cfg)
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)
	cancel()
	wg.Wait()

	topics := make([]string, len(tables))
	expect := []string{}
	want := finalState(t, db, tables)
	for i, tb := range tables {
		topics[i] = name + ".public." + tb
	}
	rd := harness.NewReader(t, k.Brokers(), r.URL, topics...)
	evs := rd.Quiet(context.Background(), t, 3*time.Second)
	rep := harness.Check(evs, expect)
	bad := compareFinal(t, evs, name+".public.", want)
	t.Logf("figures: mode_exactly_once=%v txns=%d source_changes=%d killed_at_row=%d checkpoint_at_kill=%v %s final_state_mismatches=%d flush_samples=%d flush_violations=%d",
		eos, load.txns.Load(), load.changes.Load(), killedAt, cpAtKill.Position, rep, bad, samples, violations)
	if rep.OrderViolations != 0 {
		t.Errorf("%d per-key order violations", rep.OrderViolations)
	}
	if eos && rep.Duplicates != 0 {
		t.Errorf("exactly-once: %d duplicated events", rep.Duplicates)
	}
	if rep.Events < int(load.changes.Load()) {
		t.Errorf("Kafka holds %d change events, the source made %d changes", rep.Events, load.changes.Load())
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
