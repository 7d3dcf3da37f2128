package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// Kafka API keys of the requests the test holds back.
const (
	apiInitProducerID = 22
	apiEndTxn         = 26
)

// TestExactlyOnceClaimBeforeCheckpointRead: a transaction's commit whose
// outcome the producer never learns (its EndTxn is still on its way when
// the process dies) must not be produced again by the next instance.
//
// A proxy in front of the broker holds the EndTxn of the transaction that
// carries batch 2 and its checkpoint; Sluice is killed (-9) and started
// again. The new instance's InitProducerId is held too; while it is held,
// the old EndTxn reaches the broker and commits batch 2. An instance that
// read the checkpoint before claiming its transactional.id has by then
// read the checkpoint before batch 2 and produces it again; one that
// claims first reads the checkpoint only after the old transaction is
// resolved.
func TestExactlyOnceClaimBeforeCheckpointRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	proxy := harness.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", port))
	proxy.KafkaFrames()
	opts := matrixKafka(t)
	opts.Port, opts.ProxyPort = port, proxy.Port()
	k, err := testenv.StartKafka(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, k)
	r := sharedRegistry(t)
	dsn, db := pgDB(t, sharedPostgres(t))
	exec(t, db, "CREATE TABLE c (id bigint PRIMARY KEY, v text)")
	name := testName(t)
	// No heartbeats: the only transactions are those that carry changes,
	// so the held EndTxn is the one of batch 2.
	conf := strings.Replace(pgConfig(name, dsn, k, r, ""), "heartbeat_interval: 1s", "heartbeat_interval: 0s", 1)
	cfg := harness.WriteConfig(t, conf)
	eos := []string{"SLUICE_KAFKA_EXACTLY_ONCE=true"}
	topic := name + ".public.c"
	batch := func(from int) {
		exec(t, db, fmt.Sprintf("INSERT INTO c SELECT g, 'v' FROM generate_series(%d, %d) g", from, from+99))
	}
	committed := func(n int, within time.Duration) {
		t.Helper()
		rd := harness.NewReader(t, k.DirectBrokers(), r.URL, topic)
		rd.ReadUntil(ctx, t, within, func(e []harness.Event) bool { return len(e) >= n })
	}
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s was never sent", what)
		}
	}

	p1 := harness.Start(t, eos, "run", "-c", cfg)
	p1.WaitFor(ctx, "msg=streaming", 90*time.Second)
	batch(1)
	committed(100, 60*time.Second)

	endTxn := proxy.HoldKafkaRequest(apiEndTxn)
	batch(101)
	wait(endTxn.Captured(), "the EndTxn of batch 2")
	p1.Kill()

	initPID := proxy.HoldKafkaRequest(apiInitProducerID)
	p2 := harness.Start(t, eos, "run", "-c", cfg)
	wait(initPID.Captured(), "the new instance's InitProducerId")
	endTxn.Release()
	committed(200, 30*time.Second) // the old transaction committed after all
	initPID.Release()

	batch(201)
	committed(300, 90*time.Second)
	rd := harness.NewReader(t, k.DirectBrokers(), r.URL, topic)
	evs := rd.ReadUntil(ctx, t, 30*time.Second, func(e []harness.Event) bool { return len(e) >= 300 })
	evs = append(evs, rd.Quiet(ctx, t, 3*time.Second)...)
	rep := harness.Check(evs, nil)
	t.Logf("figures: %s", rep)
	if rep.Events != 300 || rep.Keys != 300 || rep.Duplicates != 0 {
		t.Errorf("want 300 events, each once; got %s\n%s", rep, p2.Output())
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
