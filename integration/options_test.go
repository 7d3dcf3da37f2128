package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestExcludeColumnsAndNoTombstones: source.exclude_columns leaves the
// column out of the value schema and of every event, in the snapshot and
// in the stream; kafka.tombstones false writes no tombstone after a
// delete (with true, the default, one follows each delete).
func TestExcludeColumnsAndNoTombstones(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	exec(t, db, "CREATE TABLE c (id int PRIMARY KEY, name text, ssn text)")
	exec(t, db, "INSERT INTO c VALUES (1, 'a', '111-11-1111'), (2, 'b', '222-22-2222')")
	name := testName(t)
	conf := strings.Replace(pgConfig(name, dsn, k, r, ""), "  type: postgres\n",
		"  type: postgres\n  exclude_columns: [public.c.ssn]\n", 1)
	ctx := context.Background()
	p := harness.Start(t, []string{"SLUICE_KAFKA_TOMBSTONES=false"}, "run", "-c", harness.WriteConfig(t, conf))
	// The snapshot's rows come first only if it is done before the
	// changes: a chunk is handed over at its high watermark, which may
	// follow changes made meanwhile.
	p.WaitFor(ctx, "snapshots done", 90*time.Second)
	exec(t, db, "INSERT INTO c VALUES (3, 'c', '333-33-3333')")
	exec(t, db, "UPDATE c SET ssn = '444-44-4444', name = 'cc' WHERE id = 3")
	exec(t, db, "DELETE FROM c WHERE id = 1")
	exec(t, db, "INSERT INTO c VALUES (4, 'd', NULL)") // marks the end

	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.c")
	evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool {
		return len(e) > 0 && e[len(e)-1].Value != nil && harness.Int(e[len(e)-1].After(), "id") == 4
	})
	evs = append(evs, rd.Quiet(ctx, t, 2*time.Second)...)
	ops, tombstones := "", 0
	for _, e := range evs {
		if e.Value == nil {
			tombstones++
			continue
		}
		ops += e.Op()
		for _, img := range []map[string]any{e.Before(), e.After()} {
			if _, ok := img["ssn"]; ok {
				t.Errorf("event %s %v carries the excluded column", e.Op(), img)
			}
			if img != nil && img["name"] == nil && harness.Int(img, "id") != 4 && e.Op() != "d" {
				t.Errorf("event %s %v lacks a column that is not excluded", e.Op(), img)
			}
		}
	}
	t.Logf("figures: ops=%s tombstones=%d", ops, tombstones)
	if ops != "rrcudc" || tombstones != 0 {
		t.Errorf("ops %q and %d tombstones, want rrcudc and none", ops, tombstones)
	}
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}
