package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/integration/testenv"
)

// The consumer tests: what users' own consumers decode. Sluice runs on the
// type-matrix tables of Postgres and MariaDB (TestPostgresTypeMatrix's and
// TestMySQLTypeMatrix's columns and edge values: ±infinity, BC dates, years
// past 9999, 24:00:00 times, the extremes of every integer, big decimals),
// snapshot and stream, on the shared broker and registry. Then the programs
// in integration/consumers read both topics at once as users of other
// languages' standard libraries do:
//
//   - consume.py: Python confluent-kafka with the registry's AvroDeserializer
//     (fastavro), default settings;
//   - consume.js: Node kafkajs with @kafkajs/confluent-schema-registry's
//     SchemaRegistry.decode (avsc), Avro longs as BigInt as docs/consuming.md
//     shows (a JavaScript number cannot hold a long beyond 2^53);
//   - consume.js --long number: the library's default, which may fail only
//     as docs/consuming.md says, on those longs.
//
// Every event must decode in the first two, as many as Sluice produced and
// the Go harness reader read, and the decoded values of a set of columns
// must equal the harness reader's.

// consumerCheck is a column whose decoded value is compared with the
// harness reader's, by kind: "int" (the same integer, every digit),
// "string", "bytes" (consumers write base64), "decimal:N" (a Connect
// Decimal of scale N: Python writes the number, Node the unscaled bytes),
// "double" (the same float64; NaN and the infinities as strings).
type consumerCheck struct{ col, kind string }

func TestConsumersDecodeTypeMatrix(t *testing.T) {
	py, err := testenv.ConsumerPython()
	if err != nil {
		t.Fatal(err)
	}
	nodeModules, err := testenv.ConsumerNodeModules()
	if err != nil {
		t.Fatal(err)
	}
	node, err := osexec.LookPath("node")
	if err != nil {
		t.Fatalf("node: %v: %s", err, testenv.InstallHint)
	}
	js := filepath.Join(testenv.ConsumersDir(), "consume.js")
	progs := []consumerProgram{
		{lang: "python", argv: []string{py, filepath.Join(testenv.ConsumersDir(), "consume.py")}},
		{lang: "node", argv: []string{node, js}, env: []string{"NODE_PATH=" + nodeModules}},
		// The library's default: what docs/consuming.md warns of, and
		// nothing else, fails.
		{lang: "node --long number", argv: []string{node, js, "--long", "number"}, env: []string{"NODE_PATH=" + nodeModules},
			onlyError: "potential precision loss"},
	}

	k, r := sharedKafka(t), sharedRegistry(t)
	sources := []*consumerSource{pgConsumerSource(t, k, r), myConsumerSource(t, k, r)}
	var topics []string
	total := 0
	for _, src := range sources {
		src.produce(t, k, r)
		topics = append(topics, src.topic)
		total += len(src.events)
	}
	// One run of each consumer over both topics, as a user subscribing to
	// several tables does.
	start := time.Now()
	outs := runConsumers(t, progs, k.Brokers(), r.URL, topics, total)
	runs := ""
	for _, o := range outs {
		runs += fmt.Sprintf(" %s=%s", strings.ReplaceAll(o.lang, " ", ""), o.wall.Round(time.Millisecond))
	}
	t.Logf("figures: consumers_wall=%s (%d events in %d topics; each:%s)", time.Since(start).Round(time.Millisecond), total, len(topics), runs)
	for _, src := range sources {
		src.verify(t, progs, outs)
	}
}

// pgConsumerSource creates TestPostgresTypeMatrix's table with its rows.
func pgConsumerSource(t *testing.T, k *testenv.Kafka, r *testenv.Registry) *consumerSource {
	dsn, db := pgDB(t, sharedPostgres(t))
	name := testName(t) + "_pg"
	var cols []matrixCol
	for _, c := range typeMatrixColumns() {
		cols = append(cols, matrixCol{c.name, c.typ, c.vals})
	}
	ddl, nrows, insert := matrixTable(cols, "")
	exec(t, db, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'with space', 'ünï')`)
	exec(t, db, `CREATE EXTENSION hstore`)
	exec(t, db, `CREATE EXTENSION ltree`)
	exec(t, db, ddl)
	for i := range nrows {
		exec(t, db, insert(i+1, i))
	}
	return &consumerSource{
		source: "postgres",
		config: func(listen string) string {
			return strings.Replace(pgConfig(name, dsn, k, r, ""), `listen: ""`, "listen: "+listen, 1)
		},
		table: "public.types", topic: name + ".public.types", rows: nrows,
		stream: func() {
			for i := range nrows {
				exec(t, db, insert(1000+i+1, i))
			}
		},
		checks: []consumerCheck{
			{"c_int8", "int"}, {"c_numeric", "decimal:5"}, {"c_double", "double"}, {"c_text", "string"},
			{"c_bytea", "bytes"}, {"c_date", "int"}, {"c_time", "int"}, {"c_timestamp", "int"},
			{"c_timestamptz", "string"}, {"c_uuid", "string"},
		},
	}
}

// myConsumerSource creates TestMySQLTypeMatrix's table with its rows.
func myConsumerSource(t *testing.T, k *testenv.Kafka, r *testenv.Registry) *consumerSource {
	m := sharedMariaDB(t)
	dbname, db := myDB(t, m)
	name := testName(t) + "_my"
	var cols []matrixCol
	for _, c := range myTypeColumns(true) {
		cols = append(cols, matrixCol{c.name, c.typ, c.vals})
	}
	ddl, nrows, insert := matrixTable(cols, " CHARACTER SET utf8mb4")
	// Zero dates and invalid enum values need a permissive sql_mode.
	myExec(t, db, "SET SESSION sql_mode = ''")
	myExec(t, db, ddl)
	for i := range nrows {
		myExec(t, db, insert(i+1, i))
	}
	return &consumerSource{
		source: "mariadb",
		config: func(listen string) string {
			cfg := myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, "")
			return strings.Replace(cfg, `listen: ""`, "listen: "+listen, 1)
		},
		table: dbname + ".types", topic: name + "." + dbname + ".types", rows: nrows,
		stream: func() {
			for i := range nrows {
				myExec(t, db, insert(1000+i+1, i))
			}
		},
		checks: []consumerCheck{
			{"c_bigint", "int"}, {"c_bigint_u", "decimal:0"}, {"c_decimal", "decimal:30"}, {"c_double", "double"},
			{"c_varchar", "string"}, {"c_blob", "bytes"}, {"c_date", "int"}, {"c_datetime6", "int"},
			{"c_time6", "int"}, {"c_timestamp6", "string"},
		},
	}
}

// matrixCol is a type-matrix column: row i of the table holds
// vals[i%len(vals)].
type matrixCol struct {
	name, typ string
	vals      []string
}

// matrixTable returns the CREATE TABLE of a type matrix (id int primary key,
// then every column, then suffix), its number of rows (the longest vals,
// plus a last row NULL in every column) and the INSERT of row row under
// id, as the type-matrix tests build them.
func matrixTable(cols []matrixCol, suffix string) (ddl string, nrows int, insert func(id, row int) string) {
	var b strings.Builder
	b.WriteString("CREATE TABLE types (id int PRIMARY KEY")
	for _, c := range cols {
		fmt.Fprintf(&b, ", %s %s", c.name, c.typ)
		nrows = max(nrows, len(c.vals))
	}
	b.WriteString(")" + suffix)
	nrows++
	return b.String(), nrows, func(id, row int) string {
		var q strings.Builder
		fmt.Fprintf(&q, "INSERT INTO types VALUES (%d", id)
		for _, c := range cols {
			if row == nrows-1 {
				q.WriteString(", NULL")
			} else {
				fmt.Fprintf(&q, ", %s", c.vals[row%len(c.vals)])
			}
		}
		q.WriteString(")")
		return q.String()
	}
}

// consumerSource is one source's type matrix, its rows inserted (the
// snapshot's); stream inserts them again under id+1000 once Sluice streams.
type consumerSource struct {
	source string
	config func(listen string) string
	table  string // as the metrics label it
	topic  string
	rows   int
	stream func()
	checks []consumerCheck

	// events are what the harness reader read, by id.
	events   []harness.Event
	produced int
}

// produce runs Sluice over the snapshot and the streamed rows, reads every
// event with the harness reader and stops Sluice.
func (src *consumerSource) produce(t *testing.T, k *testenv.Kafka, r *testenv.Registry) {
	t.Helper()
	ctx := context.Background()
	listen := probeAddr(t)
	start := time.Now()
	p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, src.config(listen)))
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	src.stream()
	want := 2 * src.rows

	rd := harness.NewReader(t, k.Brokers(), r.URL, src.topic)
	evs := rd.ReadUntil(ctx, t, 120*time.Second, func(evs []harness.Event) bool { return len(evs) >= want })
	src.produced = int(tableEvents(scrape(t, listen), src.table))
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("%s: graceful stop exit code %d", src.source, code)
	}
	if len(evs) != want || src.produced != want {
		t.Fatalf("%s: the harness reader read %d events and Sluice counted %d (sluice_events_total), want %d",
			src.source, len(evs), src.produced, want)
	}
	sort.Slice(evs, func(i, j int) bool { return num(evs[i].Key["id"]) < num(evs[j].Key["id"]) })
	src.events = evs
	t.Logf("figures: %s: events=%d sluice_events_total=%d sluice_wall=%s", src.source, want, src.produced, time.Since(start).Round(time.Millisecond))
}

// verify checks what each consumer made of the source's events.
func (src *consumerSource) verify(t *testing.T, progs []consumerProgram, outs []consumerOutput) {
	t.Helper()
	for i, out := range outs {
		decoded, compared, mismatches := 0, 0, 0
		var failed []string
		read := 0
		for _, e := range src.events {
			rec, ok := out.records[recordPos{e.Topic, e.Partition, e.Offset}]
			if !ok {
				t.Errorf("%s: %s[%d]@%d (id %d) was not read", out.lang, e.Topic, e.Partition, e.Offset, num(e.Key["id"]))
				continue
			}
			read++
			if only := progs[i].onlyError; only != "" {
				if rec.Error != "" && !strings.Contains(rec.Error, only) {
					t.Errorf("%s: %s id %d: %s, want only %q errors", out.lang, src.source, num(e.Key["id"]), rec.Error, only)
				}
				if rec.Error != "" {
					failed = append(failed, strconv.FormatInt(num(e.Key["id"]), 10))
				} else {
					decoded++
				}
				continue
			}
			if rec.Error != "" {
				failed = append(failed, fmt.Sprintf("id %d (%s[%d]@%d, op %s): %s", num(e.Key["id"]), e.Topic, e.Partition, e.Offset, e.Op(), rec.Error))
				continue
			}
			decoded++
			n, errs := compareConsumed(out.lang, src.checks, e, rec)
			compared += n
			for _, err := range errs {
				if mismatches++; mismatches <= 20 {
					t.Errorf("%s: %s id %d (op %s): %v", out.lang, src.source, num(e.Key["id"]), e.Op(), err)
				}
			}
		}
		if n := out.topicRecords(src.topic); n != len(src.events) {
			t.Errorf("%s read %d records of %s, want %d", out.lang, n, src.topic, len(src.events))
		}
		if progs[i].onlyError != "" {
			if len(failed) == 0 {
				t.Errorf("%s: no %s event failed with %q; docs/consuming.md says the matrix's longs beyond 2^53 do", out.lang, src.source, progs[i].onlyError)
			}
			t.Logf("figures: %s: %s: decoded=%d errors=%d (ids %s)", src.source, out.lang, decoded, len(failed), strings.Join(failed, ","))
			continue
		}
		if len(failed) > 0 {
			t.Errorf("%s: %d of %d %s events did not decode:\n  %s", out.lang, len(failed), len(src.events), src.source, strings.Join(failed, "\n  "))
		}
		if mismatches > 20 {
			t.Errorf("%s: %d mismatches in %s in all (the first 20 above)", out.lang, mismatches, src.source)
		}
		t.Logf("figures: %s: %s: read=%d decoded=%d errors=%d values_compared=%d mismatches=%d",
			src.source, out.lang, read, decoded, len(failed), compared, mismatches)
	}
}

// consumerProgram is a consumer program's command line, without its
// arguments.
type consumerProgram struct {
	lang string
	argv []string
	env  []string
	// onlyError, when set, is the one error the program may report: its
	// events are counted, not compared.
	onlyError string
}

type recordPos struct {
	topic     string
	partition int32
	offset    int64
}

// consumedRecord is one output line of a consumer program.
type consumedRecord struct {
	Topic     string         `json:"topic"`
	Partition int32          `json:"partition"`
	Offset    int64          `json:"offset"`
	Key       map[string]any `json:"key"`
	Value     map[string]any `json:"value"`
	Error     string         `json:"error"`
}

type consumerOutput struct {
	lang    string
	records map[recordPos]consumedRecord
	wall    time.Duration
}

func (o consumerOutput) topicRecords(topic string) int {
	n := 0
	for pos := range o.records {
		if pos.topic == topic {
			n++
		}
	}
	return n
}

// runConsumers runs every program at once over topics until each has read
// n records (or nothing arrives for 20 s), and parses their output.
func runConsumers(t *testing.T, progs []consumerProgram, brokers []string, registryURL string, topics []string, n int) []consumerOutput {
	t.Helper()
	outs := make([]consumerOutput, len(progs))
	errs := make([]error, len(progs))
	var wg sync.WaitGroup
	for i, pr := range progs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = runConsumer(pr, brokers, registryURL, topics, n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return outs
}

func runConsumer(pr consumerProgram, brokers []string, registryURL string, topics []string, n int) (consumerOutput, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append(append([]string{}, pr.argv[1:]...), "--bootstrap", strings.Join(brokers, ","),
		"--registry", registryURL, "--count", strconv.Itoa(n), "--quiet", "20")
	cmd := osexec.CommandContext(ctx, pr.argv[0], append(args, topics...)...)
	cmd.Env = append(os.Environ(), pr.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	out := consumerOutput{lang: pr.lang, records: map[recordPos]consumedRecord{}, wall: time.Since(start)}
	if err != nil {
		return out, fmt.Errorf("%s consumer: %v\n%s", pr.lang, err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		var rec consumedRecord
		if err := d.Decode(&rec); err != nil {
			return out, fmt.Errorf("%s consumer: output line %.300q: %v", pr.lang, line, err)
		}
		pos := recordPos{rec.Topic, rec.Partition, rec.Offset}
		if _, dup := out.records[pos]; dup {
			return out, fmt.Errorf("%s consumer: %s[%d]@%d printed twice", pr.lang, rec.Topic, rec.Partition, rec.Offset)
		}
		out.records[pos] = rec
	}
	return out, nil
}

// compareConsumed compares a consumer's decoding of an event with the
// harness reader's: the key, the op, and the checked columns of the after
// image. It returns how many values it compared and the differences.
func compareConsumed(lang string, checks []consumerCheck, e harness.Event, rec consumedRecord) (int, []error) {
	var errs []error
	n := 2
	if err := compareValue(lang, "int", e.Key["id"], rec.Key["id"]); err != nil {
		errs = append(errs, fmt.Errorf("key id: %v", err))
	}
	if op, _ := rec.Value["op"].(string); op != e.Op() {
		errs = append(errs, fmt.Errorf("op %q, the harness reader %q", op, e.Op()))
	}
	after, _ := rec.Value["after"].(map[string]any)
	if after == nil {
		return n, append(errs, fmt.Errorf("no after image: %.300v", rec.Value))
	}
	for _, c := range checks {
		n++
		if err := compareValue(lang, c.kind, e.After()[c.col], after[c.col]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", c.col, err))
		}
	}
	return n, errs
}

// compareValue compares a consumer's value (JSON, numbers as json.Number)
// with the harness reader's (goavro's standard JSON) of the given kind.
func compareValue(lang, kind string, want, got any) error {
	if kind == "double" {
		w, err := harnessDouble(want)
		if err != nil {
			return err
		}
		if want == nil && (got == nil || got == "NaN") {
			return nil // goavro's JSON writes NaN and NULL alike as null
		}
		g, err := consumerDouble(got)
		if err != nil {
			return err
		}
		if !sameFloat(w, g) && !(w == 0 && g == 0) {
			return fmt.Errorf("got %v, the harness reader %v", g, w)
		}
		return nil
	}
	if want == nil || got == nil {
		if want != got {
			return fmt.Errorf("got %#v, the harness reader %#v", got, want)
		}
		return nil
	}
	switch {
	case kind == "int":
		w, g := want.(json.Number), fmt.Sprint(got)
		if _, isNum := got.(json.Number); !isNum || g != w.String() {
			return fmt.Errorf("got %#v, the harness reader %s", got, w)
		}
	case kind == "string":
		if got != want {
			return fmt.Errorf("got %.200q, the harness reader %.200q", got, want)
		}
	case kind == "bytes":
		w, err := jsonBytes(want)
		if err != nil {
			return fmt.Errorf("harness reader: %v", err)
		}
		g, err := consumerBytes(got)
		if err != nil {
			return err
		}
		if !bytes.Equal(g, w) {
			return fmt.Errorf("got %x, the harness reader %x", g, w)
		}
	case strings.HasPrefix(kind, "decimal:"):
		scale, _ := strconv.Atoi(strings.TrimPrefix(kind, "decimal:"))
		wb, err := jsonBytes(want)
		if err != nil {
			return fmt.Errorf("harness reader: %v", err)
		}
		w := decimalString(twosComplement(wb), scale)
		var g string
		if lang == "python" {
			// AvroDeserializer decodes a decimal logical type to decimal.Decimal.
			g = fmt.Sprint(got)
		} else {
			// avsc without a logical type for decimal: the unscaled bytes.
			b, err := consumerBytes(got)
			if err != nil {
				return err
			}
			g = decimalString(twosComplement(b), scale)
		}
		if g != w {
			return fmt.Errorf("got %s, the harness reader %s", g, w)
		}
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	return nil
}

func consumerBytes(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("got %#v, want base64 bytes", v)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("got %.100q: %v", s, err)
	}
	return b, nil
}

// harnessDouble reads goavro's standard JSON of a double: ±1e999 for the
// infinities, null for NaN (and for NULL).
func harnessDouble(v any) (float64, error) {
	if v == nil {
		return math.NaN(), nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("harness reader: %#v is not a number", v)
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("harness reader: %v", err)
	}
	return f, nil
}

// consumerDouble reads a consumer's double: a JSON number, or "NaN",
// "Infinity", "-Infinity".
func consumerDouble(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return strconv.ParseFloat(x.String(), 64)
	case string:
		switch x {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	return 0, fmt.Errorf("got %#v, want a double", v)
}
