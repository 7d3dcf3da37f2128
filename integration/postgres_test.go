package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/schema"
)

func ops(evs []harness.Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Value == nil {
			b.WriteString("~")
		} else {
			b.WriteString(e.Op())
		}
	}
	return b.String()
}

func num(v any) int64 {
	if n, ok := v.(json.Number); ok {
		i, _ := n.Int64()
		return i
	}
	return -1
}

// TestPostgresStreaming covers the event shapes: snapshot reads, create,
// update, delete with its tombstone, truncate, a schema change mid-stream,
// a key change, and a graceful stop that a restart resumes from without
// repeating anything.
func TestPostgresStreaming(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL, qty int)`)
	exec(t, db, `INSERT INTO orders VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)`)
	// Truncate events are skipped by default, as Debezium's; this test
	// covers them.
	cfg := harness.WriteConfig(t, withSkippedOperations(pgConfig(name, dsn, k, r, ""), "[]"))
	p := harness.Start(t, nil, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	// The snapshot is read while streaming; changes made before it is
	// done may come between its reads (TestPostgresSnapshotUnderLoad).
	p.WaitFor(ctx, `msg="snapshot of table done"`, 60*time.Second)

	exec(t, db, `INSERT INTO orders VALUES (4, 'four', 4)`)
	exec(t, db, `UPDATE orders SET qty = 40 WHERE id = 4`)
	exec(t, db, `DELETE FROM orders WHERE id = 1`)
	exec(t, db, `ALTER TABLE orders ADD COLUMN color text`)
	exec(t, db, `INSERT INTO orders VALUES (5, 'five', 5, 'red')`)
	exec(t, db, `UPDATE orders SET id = 6 WHERE id = 5`)
	exec(t, db, `TRUNCATE orders`)

	topic := name + ".public.orders"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)
	// r r r c u d ~ c d ~ c t
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool { return len(e) >= 12 })
	if got, want := ops(evs), "rrrcud~cd~ct"; got != want {
		t.Fatalf("ops = %q, want %q", got, want)
	}
	if s := evs[0].Source()["snapshot"]; s != "first" {
		t.Errorf("first snapshot event has snapshot=%v, want first", s)
	}
	if s := evs[1].Source()["snapshot"]; s != "true" {
		t.Errorf("middle snapshot event has snapshot=%v, want true", s)
	}
	if s := evs[2].Source()["snapshot"]; s != "last" {
		t.Errorf("last snapshot event has snapshot=%v, want last", s)
	}
	upd := evs[4]
	if upd.Before() != nil || num(upd.After()["qty"]) != 40 {
		t.Errorf("update event: before=%v after=%v; want no before (REPLICA IDENTITY DEFAULT) and qty 40", upd.Before(), upd.After())
	}
	del := evs[5]
	if num(del.Before()["id"]) != 1 || del.After() != nil || num(del.Key["id"]) != 1 {
		t.Errorf("delete event: key=%v before=%v after=%v", del.Key, del.Before(), del.After())
	}
	if evs[6].Value != nil || num(evs[6].Key["id"]) != 1 {
		t.Errorf("tombstone: key=%v value=%v", evs[6].Key, evs[6].Value)
	}
	if c := evs[7].After()["color"]; c != "red" {
		t.Errorf("after ADD COLUMN: color = %v, want red", c)
	}
	if num(evs[8].Key["id"]) != 5 || num(evs[10].Key["id"]) != 6 {
		t.Errorf("key change: delete key %v, create key %v; want 5 then 6", evs[8].Key, evs[10].Key)
	}
	if evs[11].Key != nil {
		t.Errorf("truncate event has key %v, want null", evs[11].Key)
	}
	for _, e := range evs {
		if e.Value == nil {
			continue
		}
		src := e.Source()
		if src["connector"] != "postgresql" || src["name"] != name || src["table"] != "orders" || src["schema"] != "public" {
			t.Fatalf("source block %v", src)
		}
		checkDebeziumTimes(t, e)
		// sequence is Debezium's ["<lastCommitLsn>","<lsn>"].
		var seq []*string
		if s, _ := src["sequence"].(string); json.Unmarshal([]byte(s), &seq) != nil || len(seq) != 2 || seq[1] == nil ||
			*seq[1] != fmt.Sprint(num(src["lsn"])) || (e.Op() != "r" && seq[0] == nil) {
			t.Errorf("%s event: sequence %v, lsn %v; want [\"<last commit lsn>\",\"<lsn>\"]", e.Op(), src["sequence"], src["lsn"])
		}
	}

	// A graceful stop commits the checkpoint; a restart repeats nothing.
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(ctx, "msg=streaming", 60*time.Second)
	exec(t, db, `INSERT INTO orders VALUES (7, 'seven', 7, 'blue')`)
	more := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool { return len(e) >= 1 })
	if len(more) != 1 || more[0].Op() != "c" || num(more[0].Key["id"]) != 7 {
		t.Fatalf("after restart got %q %v, want exactly the new insert", ops(more), more)
	}
	if code := p2.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	// A graceful stop tells the slot what it checkpointed, so Postgres
	// can release that WAL at once. The walsender reads that last status
	// update after Sluice has exited: wait for it a little.
	cp := storedCheckpoint(t, k.Brokers(), name)
	flushed, ok := slotFlush(ctx, db, "sluice_"+name)
	for deadline := time.Now().Add(5 * time.Second); (!ok || flushed != cp.Position.LSN) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		flushed, ok = slotFlush(ctx, db, "sluice_"+name)
	}
	if !ok || flushed != cp.Position.LSN {
		t.Errorf("after a graceful stop the slot's confirmed_flush_lsn is %s, the checkpoint %s", flushed, cp.Position.LSN)
	}
	// The schema history recorded both table versions with positions.
	hist := readRaw(t, k.Brokers(), "_sluice."+name+".schema-history")
	versions := 0
	for _, h := range hist {
		if strings.Contains(string(h.Value), `"color"`) {
			versions++
		}
	}
	if versions == 0 {
		t.Errorf("schema history has no version with the added column (%d records)", len(hist))
	}
}

// readRaw reads a topic's committed records without decoding.
func readRaw(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	err := checkpoint.ReadTopic(context.Background(), []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storedCheckpoint reads the connector's checkpoint as a read_committed
// consumer sees it.
func storedCheckpoint(t testing.TB, brokers []string, name string) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := checkpoint.Load(context.Background(), []kgo.Opt{kgo.SeedBrokers(brokers...)}, "_sluice."+name+".offsets", name)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// storeCheckpoint writes cp (its TsMs zeroed) as the connector's latest
// checkpoint, as a test's stand-in for an earlier or another run's.
func storeCheckpoint(t testing.TB, brokers []string, name string, cp *checkpoint.Checkpoint) {
	t.Helper()
	c := *cp
	c.TsMs = 0
	rec, err := checkpoint.Record("_sluice."+name+".offsets", name, &c)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresTOAST: an unchanged TOASTed value is never emitted as NULL.
func TestPostgresTOAST(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE docs (id int PRIMARY KEY, body text, n int)`)
	exec(t, db, `CREATE TABLE docs_full (id int PRIMARY KEY, body text, n int)`)
	exec(t, db, `ALTER TABLE docs_full REPLICA IDENTITY FULL`)
	// The 1 MB value needs a larger kafka.max_record_bytes and topic
	// max.message.bytes than the defaults (1 MB including the envelope).
	cfg := harness.WriteConfig(t, strings.Replace(pgConfig(name, dsn, k, r, ""), "kafka:\n", "kafka:\n  max_record_bytes: 4194304\n", 1))
	createTopic(t, k.Brokers(), name+".public.docs", map[string]*string{"max.message.bytes": ptr("4194304")})
	createTopic(t, k.Brokers(), name+".public.docs_full", map[string]*string{"max.message.bytes": ptr("4194304")})
	p := harness.Start(t, nil, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	// 1 MB of incompressible text, so it is stored out of line (TOAST).
	big := `(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 32768) g)`
	exec(t, db, `INSERT INTO docs VALUES (1, `+big+`, 0)`)
	exec(t, db, `INSERT INTO docs_full VALUES (1, `+big+`, 0)`)
	exec(t, db, `UPDATE docs SET n = 1 WHERE id = 1`)
	exec(t, db, `UPDATE docs_full SET n = 1 WHERE id = 1`)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.docs", name+".public.docs_full")
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool { return len(e) >= 4 })
	var realBody string
	_ = db.QueryRow(ctx, "SELECT body FROM docs WHERE id = 1").Scan(&realBody)
	if len(realBody) != 1<<20 {
		t.Fatalf("setup: body has %d bytes", len(realBody))
	}
	for _, e := range evs {
		body := e.After()["body"]
		switch {
		case e.Op() == "c" && body != realBody:
			t.Errorf("%s insert: body is not the inserted value (%d bytes)", e.Topic, len(fmt.Sprint(body)))
		case e.Op() == "u" && strings.HasSuffix(e.Topic, "docs"):
			if body != schema.UnavailableValue {
				t.Errorf("docs update (REPLICA IDENTITY DEFAULT): body = %.40v, want the placeholder %q", body, schema.UnavailableValue)
			}
		case e.Op() == "u":
			if body != realBody {
				t.Errorf("docs_full update (REPLICA IDENTITY FULL): body is not the real value (%.40v)", body)
			}
		}
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func ptr(s string) *string { return &s }
