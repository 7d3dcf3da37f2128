package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresPublicationTables: a table in source.tables that an existing
// publication lacks is refused when Sluice did not create the publication
// (it may serve someone else); added before the initial snapshot when
// Sluice created it (and its rows are snapshotted); and, once the initial
// snapshot is done, added too, with its existing rows read while
// streaming.
func TestPostgresPublicationTables(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	pub := "sluice_" + strings.ToLower(strings.NewReplacer("-", "_", "/", "_").Replace(name))
	exec(t, db, `CREATE TABLE a (id int PRIMARY KEY)`)
	exec(t, db, `CREATE TABLE b (id int PRIMARY KEY)`)
	exec(t, db, `CREATE TABLE c (id int PRIMARY KEY)`)
	exec(t, db, `INSERT INTO a VALUES (1); INSERT INTO b VALUES (1); INSERT INTO c VALUES (1)`)
	exec(t, db, `CREATE PUBLICATION `+pub+` FOR TABLE a`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Made by someone else: Sluice does not change it.
	code, out := harness.Run(t, time.Minute, []string{"SLUICE_SOURCE_TABLES=public.a,public.b"}, "run", "-c", cfg)
	if code != 1 || !strings.Contains(out, "did not create it") || !strings.Contains(out, "ADD TABLE") {
		t.Fatalf("exit %d, want 1 and the ALTER PUBLICATION to run:\n%s", code, out)
	}
	// As if Sluice had made it (its mark).
	exec(t, db, `COMMENT ON PUBLICATION `+pub+` IS 'created by sluice for `+pub+`'`)

	// Before the snapshot: b joins the publication, and both are read.
	p := harness.Start(t, []string{"SLUICE_SOURCE_TABLES=public.a,public.b"}, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, time.Minute)
	if !strings.Contains(p.Output(), `msg="added tables to the publication"`) {
		t.Fatalf("b was not added to the publication:\n%s", p.Output())
	}
	exec(t, db, `INSERT INTO b VALUES (2)`)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.b")
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 2 })
	if got := ops(evs); got != "rc" {
		t.Fatalf("b's events: %q, want a snapshot read then a create", got)
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Output())
	}

	// After it: c is newly captured; it joins the publication and its
	// existing row is read while streaming, before its new changes.
	p = harness.Start(t, []string{"SLUICE_SOURCE_TABLES=public.a,public.b,public.c"}, "run", "-c", cfg)
	p.WaitFor(ctx, `msg="snapshots done"`, time.Minute)
	if !strings.Contains(p.Output(), "tables newly captured") {
		t.Errorf("c was not planned as newly captured:\n%s", p.Output())
	}
	exec(t, db, `INSERT INTO c VALUES (2)`)
	rc := harness.NewReader(t, k.Brokers(), r.URL, name+".public.c")
	evs = rc.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 2 })
	if got := ops(evs); got != "rc" {
		t.Fatalf("c's events: %q, want its existing row read, then the create", got)
	}
	if s := evs[0].Source()["snapshot"]; s != "incremental" {
		t.Errorf("newly captured table's read has snapshot=%v, want incremental", s)
	}
	// b is not read again.
	evs = rd.Quiet(ctx, t, 2*time.Second)
	if len(evs) != 0 {
		t.Errorf("b got %q after c was added, want nothing", ops(evs))
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Output())
	}
}
