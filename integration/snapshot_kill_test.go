package integration

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresSnapshotKills kills Sluice (-9) ten times at random moments
// during the chunked snapshot of two tables, under concurrent inserts,
// updates and deletes, in both delivery modes. Every row arrives, the
// final state per key equals the tables, no snapshot row comes after a
// newer change of its key, exactly-once delivers nothing twice, and after
// each kill at most one chunk per table being read is read again (printed
// per kill).
func TestPostgresSnapshotKills(t *testing.T) {
	t.Parallel() // long and mostly waiting: runs beside the other parallel tests
	for _, mode := range []struct {
		name string
		eos  bool
	}{{"exactly_once", true}, {"at_least_once", false}} {
		t.Run(mode.name, func(t *testing.T) { testSnapshotKills(t, mode.eos) })
	}
}

const (
	killChunk       = 50
	killParallelism = 2
	kills           = 10
)

func testSnapshotKills(t *testing.T, eos bool) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	tables := []string{"s1", "s2"}
	// At-least-once commits a chunk much faster than a Kafka transaction
	// does: its tables are larger, so that the snapshot outlasts the kills.
	killPreload := int64(15_000)
	if !eos {
		killPreload = 150_000
	}
	for _, tb := range tables {
		exec(t, db, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, v bigint NOT NULL, pad text)`, tb))
		exec(t, db, fmt.Sprintf(`INSERT INTO %s SELECT g, 0, md5(g::text) FROM generate_series(1, %d) g`, tb, killPreload))
		// An estimate (pg_class.reltuples), so that the table is read in
		// key ranges [S10].
		exec(t, db, "ANALYZE "+tb)
	}
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r,
		fmt.Sprintf("snapshot: {chunk_size: %d, parallelism: %d}\n", killChunk, killParallelism)))
	env := []string{fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", eos)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Concurrent changes: updates (v+1) and deletes of existing rows,
	// inserts of new ones, in small transactions.
	var changes atomic.Int64
	// The load stops between transactions: a statement cancelled in
	// flight may still commit after the final state is read.
	var stopLoad atomic.Bool
	loadDone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			loadDone <- err
			return
		}
		defer conn.Close(context.Background())
		rng := rand.New(rand.NewPCG(3, 4))
		next := int64(1_000_000)
		for !stopLoad.Load() {
			tb := tables[rng.IntN(len(tables))]
			lo := 1 + rng.Int64N(killPreload)
			q := fmt.Sprintf(`UPDATE %[1]s SET v = v + 1 WHERE id BETWEEN %[2]d AND %[2]d + 20;
				DELETE FROM %[1]s WHERE id = %[3]d;
				INSERT INTO %[1]s VALUES (%[4]d, 0, 'new'), (%[5]d, 0, 'new')`,
				tb, lo, 1+rng.Int64N(killPreload), next, next+1)
			if _, err := conn.Exec(context.Background(), q); err != nil {
				loadDone <- err
				return
			}
			next += 2
			changes.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
		loadDone <- nil
	}()

	outputs, p := killDuringSnapshot(ctx, t, env, cfg, len(tables))
	stopLoad.Store(true)
	cancel()
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, db, k.Brokers(), name, 2*time.Minute)
	checkSnapshotKills(t, k.Brokers(), r.URL, name+".public.", tables, finalState(t, db, tables), outputs, eos, changes.Load())
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Errorf("graceful stop exit code %d", code)
	}
}

// killDuringSnapshot starts Sluice and kills it (-9) kills times at
// random moments while the snapshot of ntables tables is read, then starts
// it once more and waits for the snapshot to end. It returns every run's
// output and the last run, still running.
func killDuringSnapshot(ctx context.Context, t *testing.T, env []string, cfg string, ntables int) ([]string, *harness.Process) {
	t.Helper()
	var outputs []string
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range kills {
		p := harness.Start(t, env, "run", "-c", cfg)
		p.WaitFor(ctx, `msg="snapshot chunk read"`, 90*time.Second)
		time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
		p.Kill()
		out := p.Output()
		outputs = append(outputs, out)
		if strings.Count(out, `msg="snapshot of table done"`) >= ntables || strings.Contains(out, "snapshots done") {
			t.Fatalf("the snapshot ended before kill %d; make the tables larger", i+1)
		}
	}
	p := harness.Start(t, env, "run", "-c", cfg)
	p.WaitFor(ctx, "snapshots done", 3*time.Minute)
	return append(outputs, p.Output()), p
}

// checkSnapshotKills reads the tables' topics (prefix + table) and checks
// them against the source's final state (want) and the runs' outputs:
// no stale snapshot row, no order violation, the final state equal,
// nothing twice in exactly-once mode, and at most parallelism × chunk_size
// rows read again after each kill.
func checkSnapshotKills(t *testing.T, brokers []string, registry, prefix string, tables []string,
	want map[string]map[int64]int64, outputs []string, eos bool, changes int64) {
	t.Helper()
	topics := make([]string, len(tables))
	for i, tb := range tables {
		topics[i] = prefix + tb
	}
	evs := harness.NewReader(t, brokers, registry, topics...).Quiet(context.Background(), t, 5*time.Second)
	rep := harness.Check(evs, nil)
	stale := snapshotOrderViolations(t, evs)
	mismatches := compareFinal(t, evs, prefix, want)
	reread := rereadAfterKills(outputs)
	split := splitTables(outputs)
	t.Logf("figures: exactly_once=%v kills=%d chunk_size=%d parallelism=%d source_changes=%d %s stale_snapshot_rows=%d final_state_mismatches=%d rows_read_again_per_kill=%v key_ranges_per_table=%v",
		eos, kills, killChunk, killParallelism, changes, rep, stale, mismatches, reread, split)
	for _, tb := range tables {
		// Each table is large enough to be read in key ranges [S10].
		if !slices.ContainsFunc(slices.Collect(maps.Keys(split)), func(k string) bool { return strings.HasSuffix(k, "."+tb) }) {
			t.Errorf("table %s was never split into key ranges (split: %v)", tb, split)
		}
	}
	if stale != 0 || mismatches != 0 || rep.OrderViolations != 0 {
		t.Errorf("snapshot rows out of order (%d), final state differs (%d) or order violations (%d)", stale, mismatches, rep.OrderViolations)
	}
	if eos && rep.Duplicates != 0 {
		t.Errorf("exactly-once delivered %d events twice", rep.Duplicates)
	}
	for i, n := range reread {
		if n > killParallelism*killChunk {
			t.Errorf("kill %d: %d rows read again, more than parallelism × chunk_size = %d; the snapshot lines of the killed run and of its successor:\n%s\n---\n%s",
				i+1, n, killParallelism*killChunk, snapshotLines(outputs[i]), snapshotLines(outputs[i+1]))
		}
	}
}

// snapshotOrderViolations counts, per key and in topic order (after
// dropping repeats of the same source change, which at-least-once may
// deliver), events that show a snapshot row coming after a newer change:
// v going down, a read after a delete, or a create after a read.
func snapshotOrderViolations(t *testing.T, evs []harness.Event) int {
	type state struct {
		v       int64
		deleted bool
		read    bool
	}
	seen := map[string]bool{}
	keys := map[string]*state{}
	bad := 0
	report := func(format string, a ...any) {
		if bad < 5 {
			t.Errorf(format, a...)
		}
		bad++
	}
	for i := range evs {
		e := &evs[i]
		if e.Value == nil {
			continue
		}
		k := e.Topic + "|" + harness.KeyString(e.Key)
		pos := harness.Position(e.Source())
		id := fmt.Sprintf("%s|%s|%v", k, e.Op(), pos)
		if e.Op() == "r" {
			// One read per key and snapshot: the initial one, or each
			// snapshot asked for later.
			id = fmt.Sprintf("%s|r|%v", k, e.Source()["snapshot"] == "incremental")
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		st := keys[k]
		if st == nil {
			st = &state{v: -1}
			keys[k] = st
		}
		switch e.Op() {
		case "d":
			st.deleted = true
		case "r":
			if st.deleted {
				report("%s: snapshot read after its delete", k)
			}
			st.read = true
		case "c":
			if st.read && !st.deleted {
				report("%s: create after its snapshot read", k)
			}
		}
		if a := e.After(); a != nil {
			v := harness.Int(a, "v")
			if v < st.v {
				report("%s: %s with v=%d after v=%d", k, e.Op(), v, st.v)
			}
			st.v = v
		}
	}
	return bad
}

var (
	chunkRead    = regexp.MustCompile(`msg="snapshot chunk read" table=(\S+) chunk=(\S+) range=(\d+) after=(\S*) rows=(\d+)`)
	chunkDropped = regexp.MustCompile(`msg="snapshot chunk not handed over; [^"]*" chunk=(\S+)`)
	rangeStarted = regexp.MustCompile(`msg="snapshot of table started" table=(\S+) range=\d+ .*resume_after=(\S*) through=(\S*)`)
	tableSplit   = regexp.MustCompile(`msg="snapshot of table split into key ranges" table=(\S+) ranges=(\d+)`)
)

// rereadAfterKills returns, for each killed run, how many rows its
// successor read again: those of the chunks the killed run read last
// and did not drop that start (after their key) inside a key range the
// successor read from its start, at or after the key it resumed the
// range from.
//
// A chunk that is not handed over (read again [S2, S3], or read after
// one that is [S7]) is dropped: its rows are read again whether or not
// a kill comes, so they are not the kill's. Its range's reader starts
// again after the last chunk handed over, and the keys of the chunks it
// reads then may differ (rows were inserted or deleted meanwhile): a
// chunk that starts at or before the start of an earlier chunk of the
// same range supersedes that one, so only the killed run's latest read
// of each key counts, as the successor reads each key once. A table is
// split into key ranges [S10] once its snapshot starts, so a successor
// resumes each range of it after its own last key.
func rereadAfterKills(outputs []string) []int {
	key := func(s string) int64 {
		n, _ := strconv.ParseInt(strings.Trim(s, `"`), 10, 64)
		return n
	}
	type span struct{ from, through int64 }
	type chunk struct {
		id    string
		after int64
		rows  int
	}
	var out []int
	for i := 0; i+1 < len(outputs); i++ {
		resumed := map[string][]span{}
		for _, m := range rangeStarted.FindAllStringSubmatch(outputs[i+1], -1) {
			resumed[m[1]] = append(resumed[m[1]], span{key(m[2]), key(m[3])})
		}
		latest := map[string][]chunk{} // table and range: the chunks of its latest reads, in key order
		rangeOf := map[string]string{} // chunk id: its table and range
		for l := range strings.Lines(outputs[i]) {
			if m := chunkRead.FindStringSubmatch(l); m != nil {
				rows, _ := strconv.Atoi(m[5])
				c := chunk{m[2], key(m[4]), rows}
				r := m[1] + " " + m[3]
				rangeOf[c.id] = r
				latest[r] = append(slices.DeleteFunc(latest[r], func(o chunk) bool { return o.after >= c.after }), c)
			} else if m := chunkDropped.FindStringSubmatch(l); m != nil {
				r := rangeOf[m[1]]
				if at := slices.IndexFunc(latest[r], func(o chunk) bool { return o.id == m[1] }); at >= 0 {
					latest[r] = latest[r][:at] // and the chunks read after it [S7]
				}
			}
		}
		n := 0
		for r, cs := range latest {
			table := r[:strings.LastIndexByte(r, ' ')]
			for _, c := range cs {
				for _, s := range resumed[table] {
					if c.after >= s.from && c.after < s.through {
						n += c.rows
						break
					}
				}
			}
		}
		out = append(out, n)
	}
	return out
}

// snapshotLines returns the lines of a run's output that tell of the
// snapshot, for the report of a failure.
func snapshotLines(out string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if strings.Contains(l, `msg="snapshot`) || strings.Contains(l, "checkpoint") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// splitTables returns, per table, the most key ranges any run split it
// into.
func splitTables(outputs []string) map[string]int {
	out := map[string]int{}
	for _, o := range outputs {
		for _, m := range tableSplit.FindAllStringSubmatch(o, -1) {
			n, _ := strconv.Atoi(m[2])
			out[m[1]] = max(out[m[1]], n)
		}
	}
	return out
}
