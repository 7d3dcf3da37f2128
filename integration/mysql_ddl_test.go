package integration

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLDDL changes a table in the middle of the stream (ADD, DROP,
// RENAME and MODIFY COLUMN, with rows between them): every event must
// decode with the schema of its own time, each statement must appear on
// the schema-change topic and in the schema history, and a restart from a
// checkpoint taken before the DDL must deliver the same events again,
// decoded with the same old schemas (the table versions come from the
// binlog, never from today's definition).
func TestMySQLDDL(t *testing.T) {
	forMyServers(t, func(t *testing.T, _ myServerCase, m myServer) { testMySQLDDL(t, m) })
}

func testMySQLDDL(t *testing.T, m myServer) {
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY, a varchar(10), b int)")
	myExec(t, db, "INSERT INTO t VALUES (1, 'one', 1)")
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	// The snapshot's read of id 1 comes before the changes below.
	p.WaitFor(ctx, `msg="snapshots done"`, 90*time.Second)

	ddls := []string{
		"ALTER TABLE t ADD COLUMN c int",
		"ALTER TABLE t DROP COLUMN b",
		"ALTER TABLE t RENAME COLUMN a TO name",
		"ALTER TABLE t MODIFY c bigint",
	}
	myExec(t, db, "INSERT INTO t VALUES (2, 'two', 2)")
	myExec(t, db, ddls[0])
	myExec(t, db, "INSERT INTO t VALUES (3, 'three', 3, 30)")
	myExec(t, db, ddls[1])
	myExec(t, db, "INSERT INTO t VALUES (4, 'four', 40)")
	myExec(t, db, ddls[2])
	myExec(t, db, "INSERT INTO t VALUES (5, 'five', 50)")
	myExec(t, db, ddls[3])
	myExec(t, db, "INSERT INTO t VALUES (6, 'six', 6000000000)")
	myExec(t, db, "UPDATE t SET c = c + 1 WHERE id = 3")

	type want struct {
		op    string
		after map[string]any
	}
	wants := []want{
		{"r", map[string]any{"id": 1, "a": "one", "b": 1}},
		{"c", map[string]any{"id": 2, "a": "two", "b": 2}},
		{"c", map[string]any{"id": 3, "a": "three", "b": 3, "c": 30}},
		{"c", map[string]any{"id": 4, "a": "four", "c": 40}},
		{"c", map[string]any{"id": 5, "name": "five", "c": 50}},
		{"c", map[string]any{"id": 6, "name": "six", "c": 6000000000}},
		{"u", map[string]any{"id": 3, "name": "three", "c": 31}},
	}
	topic := name + "." + dbname + ".t"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)
	evs := rd.ReadUntil(ctx, t, 90*time.Second, func(e []harness.Event) bool { return len(e) >= len(wants) })
	check := func(label string, evs []harness.Event, wants []want) {
		t.Helper()
		if len(evs) != len(wants) {
			t.Fatalf("%s: %d events (%q), want %d", label, len(evs), ops(evs), len(wants))
		}
		for i, w := range wants {
			got := map[string]any{}
			for k, v := range evs[i].After() {
				got[k] = num(v)
				if s, ok := v.(string); ok {
					got[k] = s
				}
			}
			exp := map[string]any{}
			for k, v := range w.after {
				if n, ok := v.(int); ok {
					exp[k] = int64(n)
				} else {
					exp[k] = v
				}
			}
			if evs[i].Op() != w.op || !reflect.DeepEqual(got, exp) {
				t.Errorf("%s: event %d: op %s after %v; want op %s after %v", label, i, evs[i].Op(), got, w.op, exp)
			}
		}
	}
	check("first run", evs, wants)

	// The schema-change topic has each statement, in order.
	schemaEvents := harness.NewReader(t, k.Brokers(), r.URL, name).ReadUntil(ctx, t, 60*time.Second,
		func(e []harness.Event) bool { return len(e) >= len(ddls) })
	for i, e := range schemaEvents {
		if e.Value["ddl"] != ddls[i] || e.Value["databaseName"] != dbname || e.Key["databaseName"] != dbname {
			t.Errorf("schema change %d: key %v ddl %v database %v; want %q in %s", i, e.Key, e.Value["ddl"], e.Value["databaseName"], ddls[i], dbname)
		}
		tc, _ := e.Value["tableChanges"].([]any)
		if len(tc) != 1 || tc[0].(map[string]any)["id"] != `"`+dbname+`"."t"` || tc[0].(map[string]any)["type"] != "ALTER" {
			t.Errorf("schema change %d: tableChanges %v", i, tc)
		}
	}

	// The schema history has the DDL statements and the five versions of
	// the table, each before the first row that uses it.
	hist := readRaw(t, k.Brokers(), "_sluice."+name+".schema-history")
	var histDDL []string
	versions := 0
	for _, h := range hist {
		s := string(h.Value)
		for _, d := range ddls {
			if strings.Contains(s, `"ddl":"`+d+`"`) {
				histDDL = append(histDDL, d)
			}
		}
		if strings.Contains(s, `"table":{"id":{"Namespace":"`+dbname+`","Name":"t"}`) {
			versions++
		}
	}
	if !reflect.DeepEqual(histDDL, ddls) || versions < 5 {
		t.Errorf("schema history: DDL %q, %d table versions; want %q and at least 5 versions", histDDL, versions, ddls)
	}

	// Restart from the first checkpoint written after the snapshot was
	// done, before every DDL: the same events come again, with the old
	// schemas.
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	var early *checkpoint.Checkpoint
	for _, rec := range readRaw(t, k.Brokers(), "_sluice."+name+".offsets") {
		cp, err := checkpoint.Unmarshal(rec.Value)
		if err == nil && cp.SnapshotDone && (cp.Snapshot == nil || len(cp.Snapshot.Tables) == 0) {
			early = cp
			break
		}
	}
	if early == nil {
		t.Fatal("no checkpoint with the snapshot done in the offsets topic")
	}
	early.TsMs = 0
	storeCheckpoint(t, k.Brokers(), name, early)
	if got := storedCheckpoint(t, k.Brokers(), name); got.Position != early.Position {
		t.Fatalf("stored checkpoint %v, want the early one %v", got.Position, early.Position)
	}
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(ctx, "msg=streaming", 90*time.Second)
	again := rd.ReadUntil(ctx, t, 90*time.Second, func(e []harness.Event) bool { return len(e) >= len(wants)-1 })
	check("replay from "+early.Position.String(), again, wants[1:])
	for i := range again {
		a, b := again[i].Source(), evs[i+1].Source()
		if a["file"] != b["file"] || a["pos"] != b["pos"] || a["row"] != b["row"] || a["gtid"] != b["gtid"] {
			t.Errorf("replayed event %d: source %v, first run %v", i, a, b)
		}
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	t.Logf("figures: ddl_statements=%d events_first_run=%d events_replayed=%d schema_history_records=%d replay_from=%s",
		len(ddls), len(evs), len(again), len(hist), early.Position)
}

// TestMySQLDDLInsideGroup: a DDL statement logged inside an event group
// with rows (CREATE TABLE ... SELECT: MariaDB logs the CREATE and its rows
// as one GTID group, MySQL 8.0.21+ as BEGIN ... COMMIT) is on the
// schema-change topic and in the schema history, and its rows arrive.
func TestMySQLDDLInsideGroup(t *testing.T) {
	forMyServers(t, func(t *testing.T, _ myServerCase, m myServer) { testMySQLDDLInsideGroup(t, m) })
}

func testMySQLDDLInsideGroup(t *testing.T, m myServer) {
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY)")
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	ctas := "CREATE TABLE copy (id int PRIMARY KEY, v varchar(10)) SELECT seq AS id, 'x' AS v FROM " + mySeq(t, db, 1, 3, 1)
	myExec(t, db, ctas)
	myExec(t, db, "INSERT INTO t VALUES (1)")

	rows := harness.NewReader(t, k.Brokers(), r.URL, name+"."+dbname+".copy").ReadUntil(ctx, t, 60*time.Second,
		func(e []harness.Event) bool { return len(e) >= 3 })
	if len(rows) != 3 {
		t.Errorf("%d rows of the new table, want 3", len(rows))
	}
	schemaEvents := harness.NewReader(t, k.Brokers(), r.URL, name).ReadUntil(ctx, t, 30*time.Second,
		func(e []harness.Event) bool { return len(e) >= 1 })
	found := false
	for _, e := range schemaEvents {
		// The server logs the statement that creates the table (MariaDB
		// rewrites it without the SELECT, whose rows follow as row events).
		if d, _ := e.Value["ddl"].(string); strings.HasPrefix(d, "CREATE TABLE `copy`") || d == ctas {
			found = true
		}
	}
	if !found {
		var got []any
		for _, e := range schemaEvents {
			got = append(got, e.Value["ddl"])
		}
		t.Errorf("schema-change topic has %q, want the CREATE TABLE ... SELECT", got)
	}
	inHistory := false
	for _, h := range readRaw(t, k.Brokers(), "_sluice."+name+".schema-history") {
		if strings.Contains(string(h.Value), `"ddl":"CREATE TABLE`) {
			inHistory = true
		}
	}
	if !inHistory {
		t.Error("the CREATE TABLE ... SELECT is not in the schema history")
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	t.Logf("figures: rows_of_new_table=%d schema_change_events=%d", len(rows), len(schemaEvents))
}
