package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// Snapshotter reads captured tables in chunks for the snapshot engine
// (snapshot.Source) and writes its watermarks. Each chunk is one COPY of
// a SELECT in key order with a LIMIT, in a transaction of its own: no
// snapshot holds a transaction, an xmin or a table lock between chunks.
//
// A table with a primary key (or a replica identity index) is read in key
// order, and a chunk starts after the last key of the one before. A table
// without either is read in ctid order (a TID range scan on Postgres 14
// and later): its rows have no key to tell a chunk's copy of a row from a
// change streamed while the chunk was read, so such a row may arrive both
// as a read and as the change, and a VACUUM FULL or CLUSTER between two
// chunks may make a row be read twice or not at all (docs/design.md).
type Snapshotter struct {
	*Marker
	cfg *pgconn.Config
	db  string

	mu    sync.Mutex
	idle  []*pgx.Conn
	conns []*pgx.Conn
}

// NewSnapshotter returns a snapshotter connecting with cfg as it needs
// (one connection per concurrent reader). db is the database's name for
// the events' source block.
func NewSnapshotter(cfg *pgconn.Config, db string) *Snapshotter {
	return &Snapshotter{Marker: NewMarker(cfg), cfg: cfg, db: db}
}

// Snapshotter returns a snapshotter for the source's database.
func (s *Source) Snapshotter() *Snapshotter { return NewSnapshotter(s.pgcfg, s.plan.Database) }

func (sn *Snapshotter) get(ctx context.Context) (*pgx.Conn, error) {
	sn.mu.Lock()
	if n := len(sn.idle); n > 0 {
		c := sn.idle[n-1]
		sn.idle = sn.idle[:n-1]
		sn.mu.Unlock()
		return c, nil
	}
	sn.mu.Unlock()
	c, err := Connect(ctx, sn.cfg)
	if err != nil {
		return nil, err
	}
	sn.mu.Lock()
	sn.conns = append(sn.conns, c)
	sn.mu.Unlock()
	return c, nil
}

func (sn *Snapshotter) put(c *pgx.Conn) {
	if c.IsClosed() {
		return
	}
	sn.mu.Lock()
	sn.idle = append(sn.idle, c)
	sn.mu.Unlock()
}

// Close closes every connection.
func (sn *Snapshotter) Close() {
	sn.Marker.Close()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range sn.conns {
		_ = c.Close(ctx)
	}
	sn.conns, sn.idle = nil, nil
}

// Describe reads a table's current definition.
func (sn *Snapshotter) Describe(ctx context.Context, id schema.TableID) (*schema.Table, error) {
	c, err := sn.get(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.put(c)
	var relid uint32
	err = c.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, id.Namespace, id.Name).Scan(&relid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: snapshot of %s: %w", id, capture.ErrNoTable)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: looking up %s: %w", id, err)
	}
	ts, err := Describe(ctx, c, []TableRef{{ID: id, RelID: relid}})
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// Estimate returns pg_class.reltuples (0 when never analyzed).
func (sn *Snapshotter) Estimate(ctx context.Context, id schema.TableID) int64 {
	c, err := sn.get(ctx)
	if err != nil {
		return 0
	}
	defer sn.put(c)
	var n float64
	_ = c.QueryRow(ctx, `SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, id.Namespace, id.Name).Scan(&n)
	return int64(max(n, 0))
}

// SourceInfo is the source block of a row read at pos.
func (sn *Snapshotter) SourceInfo(_ *schema.Table, pos checkpoint.Position) capture.SourceInfo {
	// sequence [pos, pos], as Debezium's snapshot reads carry the
	// snapshot's LSN as both the last commit and the change's position.
	return capture.SourceInfo{DB: sn.db, LSN: int64(pos.LSN), LastCommitLSN: int64(pos.LSN)}
}

// Last returns the key (or ctid) of t's last row in chunk order, nil when
// the table is empty.
func (sn *Snapshotter) Last(ctx context.Context, t *schema.Table) ([]string, error) {
	c, err := sn.get(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.put(c)
	return lastKey(ctx, c, t)
}

// lastKey reads the key (or ctid) of t's last row in chunk order through
// conn, nil when the table is empty.
func lastKey(ctx context.Context, conn *pgx.Conn, t *schema.Table) ([]string, error) {
	order := chunkOrder(t)
	cols := make([]string, len(order))
	desc := make([]string, len(order))
	for i, o := range order {
		// Aliased: ORDER BY "id" would otherwise sort the text output
		// column named "id", not the key.
		cols[i] = fmt.Sprintf("%s::text AS k%d", o, i)
		desc[i] = o + " DESC"
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize() +
		" ORDER BY " + strings.Join(desc, ", ") + " LIMIT 1"
	vals := make([]string, len(order))
	ptrs := make([]any, len(order))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := conn.QueryRow(ctx, q).Scan(ptrs...); errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("postgres: snapshot of %s: last key: %w", t.ID, err)
	}
	return vals, nil
}

// Split returns up to n-1 keys that cut t's rows up to through into n key
// ranges of about as many rows each (snapshot.Splitter), each before
// through, in key order, without repeats. A table without a key is not
// split.
//
// A single-column key is cut at the n-quantiles of its column's histogram
// (pg_stats.histogram_bounds, equal-count buckets that ANALYZE drew from
// rows sampled across the whole table) when it is fresh: it costs no read
// of the table, and cuts within about a percent of the n-quantiles.
// Otherwise (a composite or text key, no statistics, or statistics that
// are stale) the keys are cut at the n-quantiles of the keys of a sample
// of about 50·n pages (TABLESAMPLE SYSTEM, whole pages at random), whose
// cuts are off by up to a few percent of the table.
func (sn *Snapshotter) Split(ctx context.Context, t *schema.Table, through []string, n int, estimate int64) ([][]string, error) {
	if len(t.Key) == 0 || n < 2 || len(through) != len(t.Key) {
		return nil, nil
	}
	c, err := sn.get(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.put(c)
	if len(t.Key) == 1 {
		// A failure to read the statistics is not the split's: the
		// sample below serves, and reports its own.
		if bounds, err := histogramBounds(ctx, c, t, through[0]); err == nil && len(bounds) > 0 {
			return quantiles(bounds, n), nil
		}
	}
	order := chunkOrder(t)
	cols := make([]string, len(order))
	for i, o := range order {
		cols[i] = fmt.Sprintf("%s::text AS k%d", o, i)
	}
	through0 := make([]string, len(through))
	for i, v := range through {
		through0[i] = literal(v)
	}
	// SYSTEM samples whole pages, whose rows have neighbouring keys when
	// the table was filled in key order: the sample is sized in pages
	// (pg_class.relpages), about 50 per range.
	table := pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
	var pages float64
	if err := c.QueryRow(ctx, "SELECT relpages FROM pg_class WHERE oid = $1::regclass", table).Scan(&pages); err != nil {
		return nil, fmt.Errorf("postgres: sampling the keys of %s: %w", t.ID, err)
	}
	pct := 100.0
	if pages > 0 {
		pct = min(100, max(0.0001, 100*float64(50*n)/pages))
	}
	q := fmt.Sprintf("SELECT %s FROM %s TABLESAMPLE SYSTEM (%g) WHERE (%s) < (%s) ORDER BY %s",
		strings.Join(cols, ", "), table, pct,
		strings.Join(order, ", "), strings.Join(through0, ", "), strings.Join(order, ", "))
	rows, err := c.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("postgres: sampling the keys of %s: %w", t.ID, err)
	}
	var sample [][]string
	for rows.Next() {
		vals := make([]string, len(order))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: sampling the keys of %s: %w", t.ID, err)
		}
		sample = append(sample, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: sampling the keys of %s: %w", t.ID, err)
	}
	return quantiles(sample, n), nil
}

// histogramBounds returns the bounds of the histogram of t's single key
// column that come before through, in key order, each as a key. It
// returns nil when:
//   - the column has no histogram;
//   - the statistics are stale: more rows changed since the last ANALYZE
//     than a tenth of the table, the threshold of autovacuum's own
//     ANALYZE (Postgres counts a transaction's changes up to a second
//     after its commit, so an ANALYZE run at once after a bulk load may
//     find the load counted after it, and the sample then serves);
//   - the type is collatable (text: ANALYZE sorted it by the column's
//     collation, which a cast to the type would not compare by);
//   - the bounds do not ascend as the key compares: cuts out of key
//     order would make ranges overlap [S10].
func histogramBounds(ctx context.Context, c *pgx.Conn, t *schema.Table, through string) ([][]string, error) {
	table := pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
	col := t.Columns[t.Key[0]].Name
	// The bounds are compared as the column's type, not as text: its name
	// comes from the catalog, and format_type quotes it.
	var (
		typ               string
		collatable, fresh bool
	)
	err := c.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod), a.attcollation <> 0,
		    coalesce(s.n_mod_since_analyze, 0) <= 0.1 * greatest(c.reltuples, 0)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
		WHERE a.attrelid = $1::regclass AND a.attname = $2`,
		table, col).Scan(&typ, &collatable, &fresh)
	if err != nil {
		return nil, fmt.Errorf("postgres: the type of %s.%s: %w", t.ID, col, err)
	}
	if collatable || !fresh {
		return nil, nil
	}
	q := fmt.Sprintf(`SELECT b, b::%[1]s < %[2]s::%[1]s, coalesce(b::%[1]s > lag(b::%[1]s) OVER (ORDER BY i), true)
		FROM pg_stats s, unnest(s.histogram_bounds::text::text[]) WITH ORDINALITY AS u(b, i)
		WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3 AND NOT s.inherited
		ORDER BY i`, typ, literal(through))
	rows, err := c.Query(ctx, q, t.ID.Namespace, t.ID.Name, col)
	if err != nil {
		return nil, fmt.Errorf("postgres: the statistics of %s.%s: %w", t.ID, col, err)
	}
	var out [][]string
	for rows.Next() {
		var b string
		var below, ascends bool
		if err := rows.Scan(&b, &below, &ascends); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: the statistics of %s.%s: %w", t.ID, col, err)
		}
		if !ascends {
			rows.Close()
			return nil, nil
		}
		if below {
			out = append(out, []string{b})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: the statistics of %s.%s: %w", t.ID, col, err)
	}
	return out, nil
}

// quantiles returns the n-quantiles (n-1 cut points) of a sample in key
// order, without repeats.
func quantiles(sample [][]string, n int) [][]string {
	var out [][]string
	for i := 1; i < n; i++ {
		j := i * len(sample) / n
		if j >= len(sample) || j == 0 && len(sample) > 0 && i*len(sample) < n {
			continue
		}
		k := sample[j]
		if len(out) > 0 && slices.Equal(out[len(out)-1], k) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// Bounds reads, in the snapshot a new slot exported (so exactly as of the
// slot's consistent point), the last key of each table: the initial
// snapshot of a table reads up to it, and every row inserted after the
// consistent point with a key beyond it comes from the stream alone.
func (s *Source) bounds(ctx context.Context, snapshot string, tables []TableRef) (map[schema.TableID][]string, error) {
	tx, err := s.sql.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgres: snapshot bounds: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
		return nil, fmt.Errorf("postgres: importing snapshot %s: %w", snapshot, err)
	}
	ts, err := Describe(ctx, tx.Conn(), tables)
	if err != nil {
		return nil, err
	}
	out := make(map[schema.TableID][]string, len(ts))
	for _, t := range ts {
		if out[t.ID], err = lastKey(ctx, tx.Conn(), t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadChunk reads up to limit rows of t after the key (or ctid) in after
// and up to through, in one COPY; row may retain the values.
func (sn *Snapshotter) ReadChunk(ctx context.Context, t *schema.Table, after, through []string, limit int, row func(vals []any) error) ([]string, error) {
	return sn.readChunk(ctx, t, after, through, limit, false, row)
}

// ReadChunkTransient is ReadChunk whose rows share one set of buffers:
// row must not retain the values, which saves an allocation of every
// value (snapshot.TransientReader).
func (sn *Snapshotter) ReadChunkTransient(ctx context.Context, t *schema.Table, after, through []string, limit int, row func(vals []any) error) ([]string, error) {
	return sn.readChunk(ctx, t, after, through, limit, true, row)
}

func (sn *Snapshotter) readChunk(ctx context.Context, t *schema.Table, after, through []string, limit int, reuse bool,
	row func(vals []any) error) ([]string, error) {
	c, err := sn.get(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.put(c)
	q, byCtid := chunkQuery(t, after, through, limit)
	ncols := len(t.Columns)
	if byCtid {
		ncols++
	}
	var last []any
	n := 0
	r := &copyReader{ctx: ctx, ncols: ncols, reuse: reuse, emit: func(vals []any) error {
		n++
		last = vals
		if byCtid {
			vals = vals[:len(t.Columns):len(t.Columns)]
		}
		return row(vals)
	}}
	tx, inProgress, err := readSnapshot(ctx, c)
	if ri := capture.ReadInfoFrom(ctx); ri != nil {
		ri.InProgress = inProgress
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("postgres: snapshot of %s: %w", t.ID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read-only: ends it
	if _, err := c.PgConn().CopyTo(ctx, r, q); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("postgres: snapshot of %s: %w", t.ID, err)
	}
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("postgres: snapshot of %s: %w", t.ID, err)
	}
	if n == 0 {
		return nil, nil
	}
	if byCtid {
		return []string{copyText(last[len(last)-1])}, nil
	}
	out := make([]string, len(t.Key))
	for i, k := range t.Key {
		out[i] = copyText(last[k])
	}
	return out, nil
}

// chunkOrder is the chunk order of t: its key columns, or ctid.
func chunkOrder(t *schema.Table) []string {
	if len(t.Key) == 0 {
		return []string{"ctid"}
	}
	order := make([]string, len(t.Key))
	for i, k := range t.Key {
		order[i] = pgx.Identifier{t.Columns[k].Name}.Sanitize()
	}
	return order
}

// chunkQuery is the COPY of one chunk: the rows after `after` and up to
// through in key order (ctid order without a key), at most limit of them.
func chunkQuery(t *schema.Table, after, through []string, limit int) (q string, byCtid bool) {
	var b strings.Builder
	b.WriteString("COPY (SELECT ")
	for i, col := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{col.Name}.Sanitize())
	}
	byCtid = len(t.Key) == 0
	if byCtid {
		b.WriteString(", ctid")
	}
	order := strings.Join(chunkOrder(t), ", ")
	b.WriteString(" FROM ")
	b.WriteString(pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize())
	tuple := func(vals []string) string {
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = literal(v)
			if byCtid {
				out[i] += "::tid"
			}
		}
		return "(" + strings.Join(out, ", ") + ")"
	}
	var where []string
	if len(after) > 0 {
		where = append(where, "("+order+") > "+tuple(after))
	}
	if len(through) > 0 {
		where = append(where, "("+order+") <= "+tuple(through))
	}
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(order)
	fmt.Fprintf(&b, " LIMIT %d) TO STDOUT", limit)
	return b.String(), byCtid
}

// literal quotes a value's text as an escape string constant, whatever
// standard_conforming_strings says; Postgres gives the untyped constant
// the type of the key column it is compared with.
func literal(s string) string {
	return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// copyText is the text of a value copyReader produced.
func copyText(v any) string {
	if p, ok := v.(*[]byte); ok && p != nil {
		return string(*p)
	}
	return ""
}

// readSnapshot begins the read-only transaction a chunk is read in, with a
// snapshot that sees every transaction committed before the chunk's low
// watermark [S2]. Postgres writes a commit record before it makes the
// transaction visible, so a transaction whose commit precedes the
// watermark in the WAL (and so in the stream, before the chunk's window
// opens) can still be invisible to a snapshot taken just after the
// watermark committed: its rows would be read as they were before it and
// handed over after its changes. Such a transaction is in progress in the
// snapshot (pg_snapshot_xip) and committed in the commit log already, so
// a snapshot with one is dropped and taken again; a transaction that
// commits after the watermark only costs a retry. A transaction between
// its commit record and its commit log entry still shows as in progress:
// the ids of those in progress (32-bit, as the stream carries them) are
// returned, so that the engine reads the chunk again if one of them
// committed before the watermark in the stream (capture.ReadInfo).
func readSnapshot(ctx context.Context, c *pgx.Conn) (pgx.Tx, []int64, error) {
	for attempt := 0; ; attempt++ {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, nil, err
		}
		var late int
		var running []int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE s = 'committed'),
  coalesce(array_agg(x::text::numeric % 4294967296) FILTER (WHERE s = 'in progress'), '{}')::bigint[]
FROM (SELECT x, pg_xact_status(x) AS s FROM pg_snapshot_xip(pg_current_snapshot()) AS x) AS xs`).Scan(&late, &running); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		if late == 0 || attempt >= 1000 {
			return tx, running, nil
		}
		_ = tx.Rollback(ctx)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}
