package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// TestInternalTopicsRenamedCarryOver: the internal topics live outside the
// change topics' prefix (_sluice.<name>.offsets), and a checkpoint that an
// older release stored under <name>.sluice.offsets is carried over once:
// the instance resumes from it, reads nothing again, and checkpoints to
// the new topic from then on.
func TestInternalTopicsRenamedCarryOver(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx := context.Background()
	exec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`)
	exec(t, db, `INSERT INTO t VALUES (1)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "snapshots done", 90*time.Second)
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	cp := storedCheckpoint(t, k.Brokers(), name)
	if cp == nil {
		t.Fatal("no checkpoint in _sluice.<name>.offsets")
	}

	// What an older release left: the checkpoint under the former name,
	// and no new topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	legacy := name + ".sluice.offsets"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, legacy); err != nil {
		t.Fatal(err)
	}
	cp.TsMs = 0
	rec, err := checkpoint.Record(legacy, name, cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, "_sluice."+name+".offsets"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the deletion settles

	exec(t, db, `INSERT INTO t VALUES (2)`)
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(ctx, "carried over from the internal topic's former name", 90*time.Second)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.t")
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool { return len(e) >= 2 })
	evs = append(evs, rd.Quiet(ctx, t, 2*time.Second)...)
	if got := ops(evs); got != "rc" {
		t.Errorf("events %q, want the first run's read and the new row's create, nothing again", got)
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	now := storedCheckpoint(t, k.Brokers(), name)
	if now == nil || now.Position.LSN <= cp.Position.LSN {
		t.Errorf("the new topic holds %v, want a checkpoint past the carried-over %v", now, cp.Position)
	}
	if strings.HasPrefix(legacy, name+".") && strings.HasPrefix(pipelineOffsets(name), name+".") {
		t.Errorf("internal topic %s is inside the change topics' prefix", pipelineOffsets(name))
	}
}

func pipelineOffsets(name string) string { return "_sluice." + name + ".offsets" }
