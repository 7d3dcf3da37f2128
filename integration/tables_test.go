package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestTablesListedMustExist: a literal name in source.tables that matches
// no table fails `sluice check` and stops `sluice run` before anything is
// captured, naming the table and the closest existing names; a glob that
// matches nothing is a warning only.
func TestTablesListedMustExist(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
		dsn, db := pgDB(t, pg)
		exec(t, db, "CREATE TABLE orders (id int PRIMARY KEY)")
		exec(t, db, `CREATE TABLE "Customers" (id int PRIMARY KEY)`)
		base := pgConfig(testName(t), dsn, k, r, "")
		withTables := func(list string) string {
			return strings.Replace(base, "  type: postgres\n", "  type: postgres\n  tables: ["+list+"]\n", 1)
		}
		tablesMustExist(t, "postgres source.tables",
			withTables("public.orders, public.customers"), withTables("public.orders, sales.*"),
			`"public.customers" matches no table`, "public.Customers")
	})
	t.Run("mariadb", func(t *testing.T) {
		m, k, r := sharedMariaDB(t), sharedKafka(t), sharedRegistry(t)
		dbname, db := myDB(t, m)
		myExec(t, db, "CREATE TABLE orders (id int PRIMARY KEY)")
		withTables := func(list string) string {
			return strings.Replace(myConfig(testName(t), m.RootDSN(""), dbname, myServerID(), k, r, ""),
				"  tables: ["+dbname+".*]\n", "  tables: ["+list+"]\n", 1)
		}
		tablesMustExist(t, "mysql source.tables",
			withTables(dbname+".orders, "+dbname+".ordres"), withTables(dbname+".orders, "+dbname+"_sales.*"),
			`"`+dbname+`.ordres" matches no table`, dbname+".orders")
	})
}

func tablesMustExist(t *testing.T, what, missing, emptyGlob string, want ...string) {
	t.Helper()
	code, lines := checkLines(t, missing, nil)
	line := findLine(t, lines, "FAIL "+what)
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("check line %q does not name %q", line, w)
		}
	}
	if code != 1 {
		t.Errorf("check exit code %d, want 1", code)
	}
	code, out := harness.Run(t, 90*time.Second, nil, "run", "-c", harness.WriteConfig(t, missing))
	for _, w := range want {
		if !strings.Contains(strings.ReplaceAll(out, `\"`, `"`), w) {
			t.Errorf("run output does not name %q:\n%s", w, tail(out, 3000))
		}
	}
	if code != 1 || strings.Contains(out, "msg=streaming") {
		t.Errorf("run exit code %d (streaming: %v), want a refusal with 1", code, strings.Contains(out, "msg=streaming"))
	}

	_, lines = checkLines(t, emptyGlob, nil)
	if l := findLine(t, lines, "WARN "+what); !strings.Contains(l, "matches no table") {
		t.Errorf("check line %q, want a warning for the glob that matches nothing", l)
	}
	p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, emptyGlob))
	p.WaitFor(context.Background(), "msg=streaming", 90*time.Second)
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
	t.Logf("figures: %s refused with %q", what, line)
}
