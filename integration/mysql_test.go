package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestMySQLStreaming covers the event shapes on MariaDB and MySQL:
// snapshot reads, create, update, delete with its tombstone, a key change,
// a multi-row statement, and a graceful stop that a restart resumes from
// (by GTID) without repeating anything.
func TestMySQLStreaming(t *testing.T) {
	forMyServers(t, testMySQLStreaming)
}

func testMySQLStreaming(t *testing.T, sc myServerCase, m myServer) {
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	myExec(t, db, "CREATE TABLE orders (id bigint PRIMARY KEY, note varchar(20) NOT NULL, qty int)")
	myExec(t, db, "INSERT INTO orders VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)")
	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	ctx := context.Background()
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)

	myExec(t, db, "INSERT INTO orders VALUES (4, 'four', 4)")
	myExec(t, db, "UPDATE orders SET qty = 40 WHERE id = 4")
	myExec(t, db, "DELETE FROM orders WHERE id = 1")
	myExec(t, db, "UPDATE orders SET id = 6 WHERE id = 4")
	myExec(t, db, "INSERT INTO orders VALUES (7, 'a', 7), (8, 'b', 8)")

	topic := name + "." + dbname + ".orders"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)
	// r r r c u d ~ d ~ c c c
	evs := rd.ReadUntil(ctx, t, 90*time.Second, func(e []harness.Event) bool { return len(e) >= 12 })
	if got, want := ops(evs), "rrrcud~d~ccc"; got != want {
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
	if num(upd.Before()["qty"]) != 4 || num(upd.After()["qty"]) != 40 {
		t.Errorf("update event: before=%v after=%v; want the full before image (qty 4) and qty 40", upd.Before(), upd.After())
	}
	if evs[6].Value != nil || num(evs[6].Key["id"]) != 1 {
		t.Errorf("tombstone: key=%v value=%v", evs[6].Key, evs[6].Value)
	}
	if num(evs[7].Key["id"]) != 4 || num(evs[9].Key["id"]) != 6 {
		t.Errorf("key change: delete key %v, create key %v; want 4 then 6", evs[7].Key, evs[9].Key)
	}
	if a, b := evs[10].Source(), evs[11].Source(); a["pos"] != b["pos"] || num(a["row"]) != 0 || num(b["row"]) != 1 {
		t.Errorf("multi-row insert: source pos %v/%v row %v/%v; want one event position, rows 0 and 1", a["pos"], b["pos"], a["row"], b["row"])
	}
	for _, e := range evs {
		if e.Value == nil {
			continue
		}
		src := e.Source()
		// Debezium's MariaDB or MySQL connector, as the server is.
		connector := "mysql"
		if sc.mariadb {
			connector = "mariadb"
		}
		if src["connector"] != connector || src["name"] != name || src["table"] != "orders" || src["db"] != dbname || src["sequence"] != nil {
			t.Fatalf("source block %v", src)
		}
		checkDebeziumTimes(t, e)
		if e.Op() == "r" && num(src["server_id"]) != 0 {
			t.Errorf("snapshot event source %v: want server_id 0, as Debezium's snapshot reads", src)
		}
		if e.Op() != "r" && (src["gtid"] == nil || !strings.HasPrefix(src["file"].(string), "mysql-bin.") || num(src["server_id"]) != 1) {
			t.Errorf("streamed event source %v: want gtid, file and server_id 1", src)
		}
	}

	// A graceful stop commits the checkpoint; a restart repeats nothing.
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	cp := storedCheckpoint(t, k.Brokers(), name)
	identity := "mysql:"
	if sc.mariadb {
		identity = "mariadb:1:"
	}
	if cp == nil || cp.Position.GTIDSet == "" || !strings.HasPrefix(cp.ServerID, identity) {
		t.Fatalf("checkpoint %+v: want a GTID set and the server identity", cp)
	}
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	p2.WaitFor(ctx, "msg=streaming", 90*time.Second)
	// The restart resumes by GTID (MariaDB: its GTID position; MySQL:
	// auto-position with the checkpoint's executed set).
	if !strings.Contains(p2.Output(), "gtid "+cp.Position.GTIDSet+"\" by=gtid") {
		t.Errorf("restart did not stream from the checkpoint's GTID set %s:\n%s", cp.Position.GTIDSet, grepLines(p2.Output(), "msg=streaming"))
	}
	myExec(t, db, "INSERT INTO orders VALUES (9, 'nine', 9)")
	more := rd.ReadUntil(ctx, t, 90*time.Second, func(e []harness.Event) bool { return len(e) >= 1 })
	if len(more) != 1 || more[0].Op() != "c" || num(more[0].Key["id"]) != 9 {
		t.Fatalf("after restart got %q %v, want exactly the new insert", ops(more), more)
	}
	if code := p2.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
}

// TestMySQLSnapshotModes: snapshot.mode never streams from the server's
// current position without reading existing rows; initial_only reads them
// (while streaming, as every snapshot) and exits once they are read.
func TestMySQLSnapshotModes(t *testing.T) {
	m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE t (id int PRIMARY KEY)")
	myExec(t, db, "INSERT INTO t VALUES (1), (2)")

	never := testName(t) + "_never"
	p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, myConfig(never, m.RootDSN(""), dbname, myServerID(), k, r, "snapshot: {mode: never}\n")))
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	myExec(t, db, "INSERT INTO t VALUES (3)")
	evs := harness.NewReader(t, k.Brokers(), r.URL, never+"."+dbname+".t").ReadUntil(ctx, t, 90*time.Second, func(e []harness.Event) bool { return len(e) >= 1 })
	if ops(evs) != "c" || num(evs[0].Key["id"]) != 3 {
		t.Errorf("never: events %q, want only the insert of id 3", ops(evs))
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("never: exit code %d", code)
	}

	only := testName(t) + "_only"
	code, out := harness.Run(t, 120*time.Second, nil, "run", "-c", harness.WriteConfig(t, myConfig(only, m.RootDSN(""), dbname, myServerID(), k, r, "snapshot: {mode: initial_only}\n")))
	if code != 0 || !strings.Contains(out, `msg="every snapshot is done; stopping (snapshot.mode initial_only)"`) {
		t.Errorf("initial_only: exit code %d, stopped when the snapshot was done: %v", code, strings.Contains(out, "every snapshot is done"))
	}
	evs = harness.NewReader(t, k.Brokers(), r.URL, only+"."+dbname+".t").ReadUntil(ctx, t, 90*time.Second, func(e []harness.Event) bool { return len(e) >= 3 })
	if ops(evs) != "rrr" {
		t.Errorf("initial_only: events %q, want three snapshot reads", ops(evs))
	}
	if cp := storedCheckpoint(t, k.Brokers(), only); cp == nil || !cp.SnapshotDone {
		t.Errorf("initial_only: checkpoint %+v, want snapshot_done", cp)
	}
}
