package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/schema"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// tfRecord is one record of a transformed topic, rendered for a golden
// file: key and value decoded through the registry (fields in schema
// order, unions unwrapped), the values that change from run to run
// replaced by "*".
type tfRecord struct {
	Topic   string
	Key     string
	Value   string
	Headers string
}

func (r tfRecord) String() string {
	s := r.Topic + " key=" + r.Key + " value=" + r.Value
	if r.Headers != "" {
		s += " headers=" + r.Headers
	}
	return s
}

// volatile names the fields whose values differ from run to run.
var volatile = map[string]bool{"ts_ms": true, "ts_us": true, "ts_ns": true, "lsn": true, "txId": true, "xmin": true,
	"__source_ts_ms": true, "__ts_ms": true, "__lsn": true, "__txId": true, "id": false,
	"file": true, "pos": true, "server_id": true, "thread": true, "gtid": true, "sequence": true,
	"snapshot": true} // snapshot: first, last or true depending on how the chunks of the tables interleave

// readTransformed reads topics (read_committed, from the start) until
// want records arrived and no more come for a second.
func readTransformed(t testing.TB, brokers []string, regURL string, want int, topics ...string) []tfRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: regURL})
	if err != nil {
		t.Fatal(err)
	}
	dec := schema.NewDecoder(reg)
	render := func(b []byte) string {
		if b == nil {
			return "null"
		}
		j, err := dec.Render(context.Background(), b)
		if err != nil {
			t.Fatalf("decoding: %v", err)
		}
		return normalize(t, j)
	}
	var out []tfRecord
	deadline := time.Now().Add(2 * time.Minute)
	var quietSince time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, h.Key+"="+string(h.Value))
			}
			out = append(out, tfRecord{Topic: r.Topic, Key: render(r.Key), Value: render(r.Value), Headers: strings.Join(hs, ",")})
		})
		switch {
		case len(out) < want:
			if time.Now().After(deadline) {
				t.Fatalf("read %d records of %d wanted from %v:\n%s", len(out), want, topics, joinRecords(out))
			}
			quietSince = time.Time{}
		case n > 0 || quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) > time.Second:
			// Topics in name order, each in offset order.
			sort.SliceStable(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
			return out
		}
	}
}

// normalize replaces the volatile values of rendered JSON by "*" and
// keeps the field order.
func normalize(t testing.TB, j []byte) string {
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var b strings.Builder
	var stack []bool // per open object/array: is object
	expectKey := false
	var key string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		inObj := len(stack) > 0 && stack[len(stack)-1]
		sep := func() {
			s := b.String()
			if s != "" && !strings.HasSuffix(s, "{") && !strings.HasSuffix(s, "[") && !strings.HasSuffix(s, ":") {
				b.WriteByte(',')
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				sep()
				b.WriteRune(rune(v))
				stack = append(stack, v == '{')
				expectKey = v == '{'
				continue
			default:
				b.WriteRune(rune(v))
				stack = stack[:len(stack)-1]
			}
		default:
			if inObj && expectKey {
				sep()
				key = v.(string)
				kb, _ := json.Marshal(key)
				b.Write(kb)
				b.WriteByte(':')
				expectKey = false
				continue
			}
			sep()
			if inObj && volatile[key] && v != nil {
				b.WriteString(`"*"`)
			} else {
				vb, _ := json.Marshal(v)
				b.Write(vb)
			}
		}
		expectKey = len(stack) > 0 && stack[len(stack)-1]
	}
	return b.String()
}

func joinRecords(rs []tfRecord) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// checkGolden compares got with testdata/<name>, or rewrites it with
// -update.
func checkGolden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs; got:\n%s\nwant:\n%s", path, got, want)
	}
}

// registeredSchemas renders the latest schema of each subject, for the
// golden files.
func registeredSchemas(t testing.TB, regURL string, subjects ...string) string {
	t.Helper()
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: regURL})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range subjects {
		sc, err := reg.Client().SchemaByVersion(context.Background(), s, -1)
		if err != nil {
			t.Fatalf("subject %s: %v", s, err)
		}
		var v any
		if err := json.Unmarshal([]byte(sc.Schema.Schema), &v); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(v)
		b.WriteString(s + " " + string(out) + "\n")
	}
	return b.String()
}

// maskHash is Debezium's column.mask.hash.v2.SHA-256.with.salt of value,
// computed here on its own to check Sluice's.
func maskHash(salt, value string) string {
	h := sha256.Sum256([]byte(salt + value))
	return hex.EncodeToString(h[:])
}

const tfSalt = "CzQMA0cB5K"

// transformsYAML configures the three transforms as a service team would,
// for a source whose tables live in namespace ns. topic is the outbox
// topic pattern: outbox topics are shared by every instance, so each test
// writes its own.
func transformsYAML(ns, topic string) string {
	return fmt.Sprintf(`transforms:
  - type: outbox
    table: %[1]s.outbox
    topic: %[3]q
    additional_placement: [type:header:eventType]
  - type: unwrap
    tables: [%[1]s.orders]
    add_fields: [op, table, source.ts_ms]
    delete_handling: rewrite
  - type: unwrap
    tables: [%[1]s.shipments]
  - type: mask
    columns: [%[1]s.customers.email]
    with: sha256
    salt: %[2]s
  - type: mask
    columns: [%[1]s.customers.phone]
    with: "***"
  - type: mask
    columns: [%[1]s.customers.ssn]
    with: null
`, ns, tfSalt, topic)
}

// TestTransformsPostgres runs the outbox router, unwrap and masks on
// Postgres over a snapshot and a stream, and compares what a consumer
// decodes with the golden file, whose shape is Debezium's documented
// output for the same rows (docs/transforms.md).
func TestTransformsPostgres(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE customers (id int PRIMARY KEY, first_name varchar(255) NOT NULL, email varchar(255) NOT NULL,
		phone text, ssn char(11) NOT NULL)`)
	exec(t, db, `CREATE TABLE orders (id int PRIMARY KEY, order_date date NOT NULL, purchaser int NOT NULL, quantity int NOT NULL)`)
	exec(t, db, `CREATE TABLE shipments (id int PRIMARY KEY, order_id int NOT NULL, carrier text)`)
	exec(t, db, `CREATE TABLE outbox (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL,
		type varchar(255) NOT NULL, payload jsonb)`)
	// Snapshot rows.
	exec(t, db, `INSERT INTO customers VALUES (1001, 'Sally', 'sally.thomas@acme.com', '555-0100', '123-45-6789')`)
	exec(t, db, `INSERT INTO orders VALUES (10001, '2016-01-16', 1001, 1)`)
	exec(t, db, `INSERT INTO shipments VALUES (1, 10001, 'ups')`)
	exec(t, db, `INSERT INTO outbox VALUES ('406c07f3-26f0-4eea-a50c-109940064b8f', 'Order', '1', 'OrderCreated',
		'{"id": 1, "customerId": 1001, "lineItems": [{"id": 1, "item": "Debezium in Action", "quantity": 2}]}')`)

	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, transformsYAML("public", "outbox.event.${routedByValue}")))
	p := harness.Start(t, nil, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, `msg="snapshots done"`, 90*time.Second)

	// Stream: the same kinds of change, and the outbox cleaned up.
	exec(t, db, `BEGIN; INSERT INTO outbox VALUES ('4d47e190-0402-4048-bc2c-89dd54343cdc', 'Order', '2', 'OrderCreated', '{"id": 2}');
		INSERT INTO orders VALUES (10002, '2016-01-17', 1001, 2); COMMIT`)
	exec(t, db, `UPDATE orders SET quantity = 3 WHERE id = 10002`)
	exec(t, db, `DELETE FROM orders WHERE id = 10001`)
	exec(t, db, `INSERT INTO customers VALUES (1002, 'George', 'gbailey@foobar.com', NULL, '987-65-4321')`)
	exec(t, db, `UPDATE customers SET email = 'sally@example.com' WHERE id = 1001`)
	exec(t, db, `DELETE FROM outbox`)
	exec(t, db, `INSERT INTO outbox VALUES ('8ef6a1d5-6d1e-4b8c-9c1e-0b6c4f6b7a11', 'Customer', '1002', 'CustomerCreated', NULL)`)
	exec(t, db, `INSERT INTO shipments VALUES (2, 10002, NULL)`)
	exec(t, db, `DELETE FROM shipments WHERE id = 1`)

	topics := []string{name + ".public.customers", name + ".public.orders", name + ".public.shipments", "outbox.event.Order", "outbox.event.Customer"}
	// customers r c u; orders r c u d(rewritten) and its tombstone;
	// shipments r c and the tombstone of the dropped delete; outbox r c c.
	recs := readTransformed(t, k.Brokers(), r.URL, 14, topics...)
	got := joinRecords(recs)
	checkGolden(t, "transforms_postgres.golden", got)
	checkGolden(t, "transforms_postgres_schemas.golden", registeredSchemas(t, r.URL,
		name+".public.customers-value", name+".public.orders-value", name+".public.shipments-value",
		"outbox.event.Order-key", "outbox.event.Order-value"))

	// The hash is Debezium's, computed independently here.
	for _, email := range []string{"sally.thomas@acme.com", "sally@example.com", "gbailey@foobar.com"} {
		if !strings.Contains(got, maskHash(tfSalt, email)) {
			t.Errorf("no event carries the salted sha256 of %q", email)
		}
	}
	if strings.Contains(got, "@") || strings.Contains(got, "555-0100") || strings.Contains(got, "123-45") {
		t.Errorf("a masked value reached Kafka:\n%s", got)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if slices.Contains(listTopics(t, k.Brokers()), name+".public.outbox") {
		t.Errorf("the outbox table's own change topic was created")
	}
}

func listTopics(t testing.TB, brokers []string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return td.Names()
}

// TestTransformsMySQL is TestTransformsPostgres on MariaDB: the same
// transforms over a snapshot and a stream, compared with a golden file.
func TestTransformsMySQL(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	myExec(t, db, `CREATE TABLE customers (id int PRIMARY KEY, first_name varchar(255) NOT NULL, email varchar(255) NOT NULL,
		phone text, ssn char(11) NOT NULL)`)
	myExec(t, db, `CREATE TABLE orders (id int PRIMARY KEY, order_date date NOT NULL, purchaser int NOT NULL, quantity int NOT NULL)`)
	myExec(t, db, `CREATE TABLE shipments (id int PRIMARY KEY, order_id int NOT NULL, carrier text)`)
	myExec(t, db, `CREATE TABLE outbox (id char(36) PRIMARY KEY, aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL,
		type varchar(255) NOT NULL, payload json)`)
	myExec(t, db, `INSERT INTO customers VALUES (1001, 'Sally', 'sally.thomas@acme.com', '555-0100', '123-45-6789')`)
	myExec(t, db, `INSERT INTO orders VALUES (10001, '2016-01-16', 1001, 1)`)
	myExec(t, db, `INSERT INTO shipments VALUES (1, 10001, 'ups')`)
	myExec(t, db, `INSERT INTO outbox VALUES ('406c07f3-26f0-4eea-a50c-109940064b8f', 'Order', '1', 'OrderCreated', '{"id": 1, "customerId": 1001}')`)

	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, transformsYAML(dbname, "outbox.mysql.${routedByValue}")))
	p := harness.Start(t, nil, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, `msg="snapshots done"`, 90*time.Second)

	myExec(t, db, `BEGIN; INSERT INTO outbox VALUES ('4d47e190-0402-4048-bc2c-89dd54343cdc', 'Order', '2', 'OrderCreated', '{"id": 2}');
		INSERT INTO orders VALUES (10002, '2016-01-17', 1001, 2); COMMIT`)
	myExec(t, db, `UPDATE orders SET quantity = 3 WHERE id = 10002`)
	myExec(t, db, `DELETE FROM orders WHERE id = 10001`)
	myExec(t, db, `INSERT INTO customers VALUES (1002, 'George', 'gbailey@foobar.com', NULL, '987-65-4321')`)
	myExec(t, db, `UPDATE customers SET email = 'sally@example.com' WHERE id = 1001`)
	myExec(t, db, `DELETE FROM outbox`)
	myExec(t, db, `INSERT INTO outbox VALUES ('8ef6a1d5-6d1e-4b8c-9c1e-0b6c4f6b7a11', 'Customer', '1002', 'CustomerCreated', NULL)`)
	myExec(t, db, `INSERT INTO shipments VALUES (2, 10002, NULL)`)
	myExec(t, db, `DELETE FROM shipments WHERE id = 1`)

	prefix := name + "." + dbname
	topics := []string{prefix + ".customers", prefix + ".orders", prefix + ".shipments", "outbox.mysql.Order", "outbox.mysql.Customer"}
	recs := readTransformed(t, k.Brokers(), r.URL, 14, topics...)
	got := joinRecords(recs)
	checkGolden(t, "transforms_mysql.golden", got)
	checkGolden(t, "transforms_mysql_schemas.golden", registeredSchemas(t, r.URL,
		prefix+".customers-value", prefix+".orders-value", "outbox.mysql.Order-key", "outbox.mysql.Order-value"))
	for _, email := range []string{"sally.thomas@acme.com", "sally@example.com", "gbailey@foobar.com"} {
		if !strings.Contains(got, maskHash(tfSalt, email)) {
			t.Errorf("no event carries the salted sha256 of %q", email)
		}
	}
	if strings.Contains(got, "@") || strings.Contains(got, "555-0100") || strings.Contains(got, "123-45") {
		t.Errorf("a masked value reached Kafka:\n%s", got)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestTransformsOutboxMessages: outbox events written with
// pg_logical_emit_message need no outbox table. A transactional message
// becomes an event with its transaction; one rolled back with its
// transaction never does; a non-transactional one is left out, logged.
func TestTransformsOutboxMessages(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	exec(t, db, `CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, "transforms:\n  - type: outbox\n    prefix: sluice.outbox\n    topic: outbox.messages.${routedByValue}\n"))
	p := harness.Start(t, nil, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)

	emit := func(transactional bool, body string) string {
		return fmt.Sprintf(`SELECT pg_logical_emit_message(%v, 'sluice.outbox', '%s');`, transactional, body)
	}
	exec(t, db, `BEGIN; INSERT INTO orders VALUES (7, 12);`+
		emit(true, `{"id": "m1", "aggregatetype": "Order", "aggregateid": "7", "type": "OrderCreated", "payload": {"id": 7, "total": 12}}`)+`COMMIT`)
	exec(t, db, `BEGIN; INSERT INTO orders VALUES (8, 1);`+
		emit(true, `{"id": "m2", "aggregatetype": "Order", "aggregateid": "8", "type": "OrderCreated"}`)+`ROLLBACK`)
	exec(t, db, emit(false, `{"id": "m3", "aggregatetype": "Order", "aggregateid": "9", "type": "OrderCreated"}`))
	exec(t, db, `BEGIN; UPDATE orders SET total = 13 WHERE id = 7;`+
		emit(true, `{"id": "m4", "aggregatetype": "Order", "aggregateid": "7", "type": "OrderChanged", "payload": {"id": 7, "total": 13}}`)+`COMMIT`)
	p.WaitFor(ctx, "non-transactional logical decoding message ignored", 30*time.Second)

	recs := readTransformed(t, k.Brokers(), r.URL, 2, "outbox.messages.Order")
	got := joinRecords(recs)
	want := `outbox.messages.Order key="7" value="{\"id\": 7, \"total\": 12}" headers=id=m1,type=OrderCreated
outbox.messages.Order key="7" value="{\"id\": 7, \"total\": 13}" headers=id=m4,type=OrderChanged
`
	if got != want {
		t.Errorf("outbox messages:\n%s\nwant:\n%s", got, want)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
