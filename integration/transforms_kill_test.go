package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/schema"
)

// TestTransformsOutboxKill writes outbox events in transactions of 1 to
// 20 rows, cleans the outbox up as it goes, and kills Sluice with SIGKILL
// at random moments in exactly-once mode, restarting it each time. A
// read_committed consumer of the routed topics must see every event
// exactly once (lost 0, duplicated 0), in order per aggregate.
func TestTransformsOutboxKill(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE outbox (id text PRIMARY KEY, aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL,
		type varchar(255) NOT NULL, payload jsonb)`)
	const events, aggregates = 3000, 20
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, `transforms:
  - type: outbox
    table: public.outbox
    topic: outbox.kill.${routedByValue}
`))
	env := []string{"SLUICE_KAFKA_EXACTLY_ONCE=true", "SLUICE_LOG_LEVEL=info"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)

	loadErr := make(chan error, 1)
	go func() { loadErr <- outboxLoad(ctx, dsn, events, aggregates) }()
	rng := rand.New(rand.NewPCG(3, 5))
	const kills = 8
	for range kills {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		p.Kill()
		p = harness.Start(t, env, "run", "-c", cfg)
	}
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	(&pgSource{db: db}).waitCaughtUp(t, k.Brokers(), name, 3*time.Minute)

	seen := map[string]int{}
	lastSeq := map[string]int{}
	order := 0
	records := readOutbox(t, k.Brokers(), r.URL, events, "outbox.kill.Order", "outbox.kill.Customer")
	for _, rec := range records {
		seen[rec.id]++
		if prev, ok := lastSeq[rec.key]; ok && rec.seq <= prev {
			order++
		}
		lastSeq[rec.key] = rec.seq
	}
	lost, dup := 0, 0
	for i := range events {
		switch n := seen["e"+strconv.Itoa(i)]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	t.Logf("figures: kills=%d events=%d records=%d lost=%d duplicated=%d order_violations=%d", kills, events, len(records), lost, dup, order)
	if lost != 0 || dup != 0 || order != 0 || len(records) != events {
		t.Errorf("outbox under kill -9, exactly-once: lost %d, duplicated %d, out of order %d, %d records for %d events", lost, dup, order, len(records), events)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}

// outboxLoad inserts events outbox rows e0..e<n-1> in transactions of 1
// to 20 rows, each row of aggregate agg<i % aggregates> with payload
// {"seq": i}, and deletes the rows it wrote a while ago, as a service
// cleaning its outbox does.
func outboxLoad(ctx context.Context, dsn string, events, aggregates int) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < events; {
		n := min(1+rng.IntN(20), events-i)
		var b strings.Builder
		b.WriteString("BEGIN;")
		for j := range n {
			e := i + j
			typ := "Order"
			if e%2 == 1 {
				typ = "Customer"
			}
			fmt.Fprintf(&b, `INSERT INTO outbox VALUES ('e%d', '%s', 'agg%d', '%sChanged', '{"seq": %d}');`, e, typ, e%aggregates, typ, e)
		}
		if i > 100 && rng.IntN(4) == 0 {
			fmt.Fprintf(&b, `DELETE FROM outbox WHERE substr(id, 2)::int < %d;`, i-50)
		}
		b.WriteString("COMMIT;")
		if _, err := conn.Exec(ctx, b.String()); err != nil {
			return err
		}
		i += n
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

type outboxRecord struct {
	id, key string
	seq     int
}

// readOutbox reads the outbox topics read_committed until want records
// arrived and nothing more comes for two seconds.
func readOutbox(t testing.TB, brokers []string, regURL string, want int, topics ...string) []outboxRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: regURL})
	if err != nil {
		t.Fatal(err)
	}
	dec := schema.NewDecoder(reg)
	var out []outboxRecord
	deadline := time.Now().Add(2 * time.Minute)
	last := time.Now()
	for len(out) < want || time.Since(last) < 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("read %d outbox records of %d", len(out), want)
		}
		pctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(rec *kgo.Record) {
			last = time.Now()
			var o outboxRecord
			for _, h := range rec.Headers {
				if h.Key == "id" {
					o.id = string(h.Value)
				}
			}
			var key, payload string
			for _, d := range []struct {
				b   []byte
				dst *string
			}{{rec.Key, &key}, {rec.Value, &payload}} {
				j, err := dec.Render(context.Background(), d.b)
				if err != nil {
					t.Fatalf("%s@%d: %v", rec.Topic, rec.Offset, err)
				}
				if err := json.Unmarshal(j, d.dst); err != nil {
					t.Fatalf("%s@%d: %s: %v", rec.Topic, rec.Offset, j, err)
				}
			}
			var body struct{ Seq int }
			if err := json.Unmarshal([]byte(payload), &body); err != nil {
				t.Fatalf("%s@%d payload %q: %v", rec.Topic, rec.Offset, payload, err)
			}
			o.key, o.seq = key, body.Seq
			out = append(out, o)
		})
	}
	return out
}
