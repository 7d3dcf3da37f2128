package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// withSkippedOperations sets source.skipped_operations in a configuration
// made by pgConfig or myConfig.
func withSkippedOperations(cfg, list string) string {
	return strings.Replace(cfg, "source:\n", "source:\n  skipped_operations: "+list+"\n", 1)
}

// TestPostgresSkippedOperations: by default a TRUNCATE emits nothing, as
// Debezium's skipped.operations=t, and the changes around it still arrive;
// with skipped_operations [none] or [] it emits an op t event. Three
// instances read the same table at once.
func TestPostgresSkippedOperations(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	exec(t, db, `CREATE TABLE items (id bigint PRIMARY KEY)`)
	ctx := context.Background()
	cases := []struct {
		list string // "": the default
		want string
	}{{"", "cc"}, {"[none]", "ctc"}, {"[]", "ctc"}}
	names := make([]string, len(cases))
	for i, tc := range cases {
		names[i] = testName(t) + "_" + string(rune('a'+i))
		cfg := pgConfig(names[i], dsn, k, r, "")
		if tc.list != "" {
			cfg = withSkippedOperations(cfg, tc.list)
		}
		p := harness.Start(t, nil, "run", "-c", harness.WriteConfig(t, cfg))
		p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	}
	exec(t, db, `INSERT INTO items VALUES (1)`)
	exec(t, db, `TRUNCATE items`)
	exec(t, db, `INSERT INTO items VALUES (2)`)
	for i, tc := range cases {
		rd := harness.NewReader(t, k.Brokers(), r.URL, names[i]+".public.items")
		evs := rd.ReadUntil(ctx, t, 60*time.Second, func(e []harness.Event) bool {
			return len(e) > 0 && e[len(e)-1].Value != nil && num(e[len(e)-1].After()["id"]) == 2
		})
		if got := ops(evs); got != tc.want {
			t.Errorf("skipped_operations %q: ops %q, want %q", tc.list, got, tc.want)
		}
	}
}
