package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestTransformsBadConfig: each transforms mistake stops `sluice run`
// with exit status 2 and a message naming the key and the fix, whether it
// shows in the file alone or only once the table's columns are known.
func TestTransformsBadConfig(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	exec(t, db, `CREATE TABLE customers (id int PRIMARY KEY, email text)`)
	exec(t, db, `CREATE TABLE outbox (id uuid PRIMARY KEY, aggregatetype text, aggregateid text, type text, body jsonb)`)
	name := testName(t)
	cases := []struct {
		name   string
		env    []string
		config string
		want   []string
	}{
		{
			name:   "unknown type",
			config: "transforms:\n  - type: flatten\n    tables: [public.customers]\n",
			want:   []string{"transforms[0].type", "flatten", "outbox, unwrap or mask"},
		},
		{
			name:   "unknown table",
			env:    []string{"SLUICE_SOURCE_TABLES=public.customers"},
			config: "transforms:\n  - type: outbox\n    table: public.outbox\n",
			want:   []string{"transforms[0].table", "public.outbox", "not a captured table", "source.tables"},
		},
		{
			name:   "key of another type",
			config: "transforms:\n  - type: mask\n    columns: [public.customers.email]\n    with: sha256\n    salt: s\n    tables: [public.customers]\n",
			want:   []string{"transforms[0].tables", "not a key of a mask transform"},
		},
		{
			name:   "missing outbox column",
			config: "transforms:\n  - type: outbox\n    table: public.outbox\n",
			want:   []string{"transforms[0].payload_column", "not a column of the outbox table public.outbox", "body"},
		},
		{
			name:   "masked key column",
			config: "transforms:\n  - type: mask\n    columns: [public.customers.id]\n    with: \"***\"\n",
			want:   []string{"transforms[0].columns", "public.customers.id", "key", "cannot be masked"},
		},
		{
			name:   "sha256 without salt",
			config: "transforms:\n  - type: mask\n    columns: [public.customers.email]\n    with: sha256\n",
			want:   []string{"transforms[0].salt", "required with sha256"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, tc.config))
			code, out := harness.Run(t, 90*time.Second, tc.env, "run", "-c", cfg)
			if code != 2 {
				t.Errorf("exit code %d, want 2; output:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
