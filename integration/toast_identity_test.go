package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/schema"
)

// TestPostgresToastNonText: an UPDATE of another column leaves a TOASTed
// array out of the change. integer[] gets Debezium's placeholder (the
// placeholder's bytes as elements); double precision[] has none, so
// `sluice check` fails the table with the exact ALTER TABLE, and `sluice
// run` refuses to start until the table has REPLICA IDENTITY FULL, after
// which the update carries the real value.
func TestPostgresToastNonText(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx := context.Background()
	exec(t, db, `CREATE TABLE ints (id int PRIMARY KEY, a int[], n int)`)
	exec(t, db, `CREATE TABLE floats (id int PRIMARY KEY, a double precision[], n int)`)
	conf := strings.Replace(pgConfig(name, dsn, k, r, ""), "kafka:\n", "kafka:\n  max_record_bytes: 4194304\n", 1)
	env := []string{"SLUICE_SOURCE_TABLES=public.ints,public.floats"}
	const fix = `ALTER TABLE "public"."floats" REPLICA IDENTITY FULL`

	code, lines := checkLines(t, conf, env)
	fail := "FAIL postgres replica identity of public.floats: REPLICA IDENTITY DEFAULT, and a (double precision[])"
	if code != 1 || !hasLine(lines, fail, "fix: "+fix) {
		t.Fatalf("check: exit %d, want 1 and a line %q with the fix; output:\n%s", code, fail, strings.Join(lines, "\n"))
	}
	if hasLine(lines, "FAIL postgres replica identity of public.ints") {
		t.Errorf("check fails public.ints, whose integer[] has Debezium's placeholder:\n%s", strings.Join(lines, "\n"))
	}

	// A column left out of the events is no risk.
	if _, lines := checkLines(t, conf, append(env, "SLUICE_SOURCE_EXCLUDE_COLUMNS=public.floats.a")); hasLine(lines, "FAIL postgres replica identity") {
		t.Errorf("check fails a table whose at-risk column is excluded:\n%s", strings.Join(lines, "\n"))
	}

	cfg := harness.WriteConfig(t, conf)
	code, out := harness.Run(t, 2*time.Minute, env, "run", "-c", cfg)
	out = strings.ReplaceAll(out, `\"`, `"`) // logfmt quotes the error
	if code != 1 || !strings.Contains(out, "public.floats: REPLICA IDENTITY DEFAULT") || !strings.Contains(out, "fix: "+fix) {
		t.Fatalf("run with the table at REPLICA IDENTITY DEFAULT: exit %d, want 1 naming the table and %q; output:\n%s", code, fix, out)
	}

	exec(t, db, fix)
	if code, lines := checkLines(t, conf, env); hasLine(lines, "FAIL postgres replica identity") {
		t.Fatalf("check after the fix: exit %d:\n%s", code, strings.Join(lines, "\n"))
	}
	createTopic(t, k.Brokers(), name+".public.ints", map[string]*string{"max.message.bytes": ptr("4194304")})
	createTopic(t, k.Brokers(), name+".public.floats", map[string]*string{"max.message.bytes": ptr("4194304")})
	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 2*time.Minute)
	// 10,000 random values compress poorly, so the arrays (40 and 80 kB)
	// are stored out of line.
	exec(t, db, `INSERT INTO ints VALUES (1, (SELECT array_agg((random() * 2e9)::int) FROM generate_series(1, 10000)), 0)`)
	exec(t, db, `INSERT INTO floats VALUES (1, (SELECT array_agg(random()) FROM generate_series(1, 10000)), 0)`)
	for _, tbl := range []string{"ints", "floats"} {
		var toast int64
		if err := db.QueryRow(ctx, `SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = $1`, tbl).Scan(&toast); err != nil || toast == 0 {
			t.Fatalf("setup: %s's array is not stored out of line (TOAST table %d bytes, %v)", tbl, toast, err)
		}
	}
	exec(t, db, `UPDATE ints SET n = 1 WHERE id = 1`)
	exec(t, db, `UPDATE floats SET n = 1 WHERE id = 1`)
	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.ints", name+".public.floats")
	evs := rd.ReadUntil(ctx, t, time.Minute, func(e []harness.Event) bool { return len(e) >= 4 })
	placeholder := make([]string, len(schema.UnavailableValue))
	for i := range placeholder {
		placeholder[i] = fmt.Sprint(schema.UnavailableValue[i])
	}
	for _, e := range evs {
		if e.Op() != "u" {
			continue
		}
		a := elems(e.After()["a"])
		switch {
		case strings.HasSuffix(e.Topic, ".ints"):
			if strings.Join(a, ",") != strings.Join(placeholder, ",") {
				t.Errorf("ints update (REPLICA IDENTITY DEFAULT): a has %d elements %.60v, want Debezium's placeholder %v", len(a), a, placeholder)
			}
		default:
			if len(a) != 10000 || e.Before() == nil {
				t.Errorf("floats update (REPLICA IDENTITY FULL): a has %d elements, before image %v; want the real 10000 and a before image", len(a), e.Before() != nil)
			}
		}
	}
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// hasLine reports whether a line starts with prefix and contains every want.
func hasLine(lines []string, prefix string, want ...string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// elems prints a decoded Avro array's elements.
func elems(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, len(arr))
	for i, x := range arr {
		if m, ok := x.(map[string]any); ok && len(m) == 1 { // a union branch
			for _, y := range m {
				x = y
			}
		}
		out[i] = fmt.Sprint(x)
	}
	return out
}
