package integration

import (
	"context"
	"strconv"
	"testing"
	"time"

	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/schema"
)

// TestPostgresSplitUsesFreshStatistics: a key of one integer column is
// cut into key ranges [S10] at the quantiles of its column's histogram
// while the statistics are fresh, and at a sample of the table once more
// than a tenth of it changed since ANALYZE. The test tells the two apart
// by deleting the lowest keys after ANALYZE: the histogram still cuts
// 1..200,000 near 50,000, 100,000 and 150,000; the table's own quantiles
// have moved up.
func TestPostgresSplitUsesFreshStatistics(t *testing.T) {
	t.Parallel()
	pg := sharedPostgres(t)
	dsn, db := pgDB(t, pg)
	ctx := context.Background()
	exec(t, db, "CREATE TABLE hk (id bigint PRIMARY KEY, pad text)")
	exec(t, db, "INSERT INTO hk SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
	// Postgres counts a table's changes for its statistics views up to a
	// second or so after the commit: ANALYZE before the insert is counted
	// would see it counted after, as changes since ANALYZE.
	stat := func(col string, n int64) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var got int64
			if err := db.QueryRow(ctx, "SELECT "+col+" FROM pg_stat_all_tables WHERE relid = 'hk'::regclass").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pg_stat_all_tables.%s of hk is %d, want %d", col, got, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stat("n_tup_ins", 200000)
	exec(t, db, "ANALYZE hk")
	cfg, err := pgcapture.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	sn := pgcapture.NewSnapshotter(cfg, cfg.Database)
	defer sn.Close()
	tb := &schema.Table{ID: schema.TableID{Namespace: "public", Name: "hk"}, Columns: []schema.Column{{Name: "id"}, {Name: "pad"}}, Key: []int{0}}
	cuts := func() []int64 {
		keys, err := sn.Split(ctx, tb, []string{"200000"}, 4, 200000)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, k := range keys {
			n, err := strconv.ParseInt(k[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	// ANALYZE's histogram comes from 30,000 rows drawn across the table:
	// within a few hundred keys. A sample of 200 whole pages was off by
	// up to 8,500 keys in four runs; 20,000 still tells it from the
	// histogram's cuts, 45,000 and more below the table's.
	near := func(got []int64, tol int64, want ...int64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if d := got[i] - want[i]; d < -tol || d > tol {
				return false
			}
		}
		return true
	}
	// 9% of the rows, the lowest keys: fewer changes than a tenth.
	exec(t, db, "DELETE FROM hk WHERE id <= 18000")
	stat("n_mod_since_analyze", 18000)
	fresh := cuts()
	// 30% in all: the statistics are stale, and the table is sampled
	// (or autovacuum analyzed it again: its histogram then cuts the same).
	exec(t, db, "DELETE FROM hk WHERE id <= 60000")
	stat("n_mod_since_analyze", 60000)
	stale := cuts()
	t.Logf("figures: cuts_fresh_statistics=%v cuts_stale_statistics=%v", fresh, stale)
	if !near(fresh, 3000, 50000, 100000, 150000) {
		t.Errorf("with fresh statistics the cuts are %v, want the histogram's, near 50,000, 100,000 and 150,000", fresh)
	}
	if !near(stale, 20000, 95000, 130000, 165000) {
		t.Errorf("with stale statistics the cuts are %v, want the table's quartiles, near 95,000, 130,000 and 165,000", stale)
	}
}
