package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// Snapshotter reads captured tables in chunks for the snapshot engine
// (snapshot.Source) and writes its watermarks (Marker). Each chunk is one
// SELECT in primary-key order with a LIMIT, in autocommit: no snapshot
// holds a transaction or a table lock between chunks.
//
// Only tables with a primary key can be snapshotted: a chunk starts after
// the last key of the one before, and the engine tells a chunk's copy of
// a row from a change streamed meanwhile by its key. A table without one
// is refused (docs/mysql.md).
type Snapshotter struct {
	*Marker
	db *sql.DB
}

// Snapshotter returns a snapshotter on the source's connection pool.
func (s *Source) Snapshotter() *Snapshotter {
	return &Snapshotter{Marker: s.marker(), db: s.db}
}

func (s *Source) marker() *Marker {
	return &Marker{db: s.db, table: s.signal, user: s.cfg.Conn.User}
}

// Describe reads a table's current definition; a table without a primary
// key is refused.
func (sn *Snapshotter) Describe(ctx context.Context, id schema.TableID) (*schema.Table, error) {
	t, err := Describe(ctx, sn.db, id)
	if err != nil {
		return nil, err
	}
	if err := snapshotable(t); err != nil {
		return nil, err
	}
	return t, nil
}

// ErrNoPrimaryKey reports a table that cannot be snapshotted in chunks.
var ErrNoPrimaryKey = errors.New("the table has no primary key: MySQL snapshots read tables in primary-key order")

func snapshotable(t *schema.Table) error {
	if len(t.Key) > 0 {
		return nil
	}
	return &SetupError{What: "snapshot of " + t.ID.String(), Err: ErrNoPrimaryKey,
		Fix: "add a primary key (ALTER TABLE " + QuoteTable(t.ID) + " ADD PRIMARY KEY (...)), or exclude the table (source.exclude_tables), " +
			"or capture it without a snapshot (snapshot.mode never)"}
}

// Estimate returns information_schema.TABLES.TABLE_ROWS (InnoDB's
// estimate; 0 when unknown).
func (sn *Snapshotter) Estimate(ctx context.Context, id schema.TableID) int64 {
	var n sql.NullInt64
	_ = sn.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		id.Namespace, id.Name).Scan(&n)
	return max(n.Int64, 0)
}

// SourceInfo is the source block of a row read at pos.
func (sn *Snapshotter) SourceInfo(t *schema.Table, pos checkpoint.Position) capture.SourceInfo {
	// server_id 0: Debezium's snapshot reads carry no binlog event's
	// server id.
	return capture.SourceInfo{DB: t.ID.Namespace, File: pos.File, Pos: int64(pos.Pos)}
}

// Last returns the primary key of t's last row (the server's text of each
// key column), nil when the table is empty.
func (sn *Snapshotter) Last(ctx context.Context, t *schema.Table) ([]string, error) {
	return lastKey(ctx, sn.db, t)
}

func lastKey(ctx context.Context, q querier, t *schema.Table) ([]string, error) {
	if err := snapshotable(t); err != nil {
		return nil, err
	}
	cols := keyColumns(t)
	desc := make([]string, len(cols))
	for i, c := range cols {
		desc[i] = c + " DESC"
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+QuoteTable(t.ID)+" ORDER BY "+strings.Join(desc, ", ")+" LIMIT 1")
	if err != nil {
		return nil, fmt.Errorf("mysql: snapshot of %s: last key: %w", t.ID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("mysql: snapshot of %s: last key: %w", t.ID, err)
		}
		return nil, nil
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("mysql: snapshot of %s: last key: %w", t.ID, err)
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out, rows.Close()
}

// Split returns up to n-1 keys that cut t's rows up to through into n key
// ranges of about as many rows each (snapshot.Splitter). A key of one
// integer column is cut into equal intervals between its first value
// (one MIN over the primary index) and through; any other key at the keys
// at offsets estimate·i/n of the primary index, one query each (InnoDB's
// estimate may be off: offsets past the end give fewer ranges).
func (sn *Snapshotter) Split(ctx context.Context, t *schema.Table, through []string, n int, estimate int64) ([][]string, error) {
	if snapshotable(t) != nil || n < 2 || len(through) != len(t.Key) {
		return nil, nil
	}
	keys := keyColumns(t)
	if len(keys) == 1 && integerType(t.Columns[t.Key[0]].Type) && plainNumber(through[0]) {
		var first sql.NullString
		if err := sn.db.QueryRowContext(ctx, "SELECT MIN("+keys[0]+") FROM "+QuoteTable(t.ID)).Scan(&first); err != nil {
			return nil, fmt.Errorf("mysql: splitting %s into key ranges: %w", t.ID, err)
		}
		lo, ok1 := new(big.Int).SetString(first.String, 10)
		hi, ok2 := new(big.Int).SetString(through[0], 10)
		if !first.Valid || !ok1 || !ok2 {
			return nil, nil
		}
		return evenCuts(lo, hi, n), nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(through)), ", ")
	q := "SELECT " + strings.Join(keys, ", ") + " FROM " + QuoteTable(t.ID) +
		" WHERE (" + strings.Join(keys, ", ") + ") < (" + ph + ") ORDER BY " + strings.Join(keys, ", ") + " LIMIT 1 OFFSET "
	args := make([]any, len(through))
	for i, v := range through {
		args[i] = v
	}
	var out [][]string
	for i := 1; i < n; i++ {
		raw := make([]sql.RawBytes, len(keys))
		ptrs := make([]any, len(raw))
		for j := range raw {
			ptrs[j] = &raw[j]
		}
		rows, err := sn.db.QueryContext(ctx, q+strconv.FormatInt(estimate*int64(i)/int64(n), 10), args...)
		if err != nil {
			return nil, fmt.Errorf("mysql: splitting %s into key ranges: %w", t.ID, err)
		}
		if !rows.Next() {
			err := rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("mysql: splitting %s into key ranges: %w", t.ID, err)
			}
			break // past the end
		}
		err = rows.Scan(ptrs...)
		k := make([]string, len(raw))
		for j, r := range raw {
			k[j] = string(r)
		}
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("mysql: splitting %s into key ranges: %w", t.ID, err)
		}
		if len(out) == 0 || !slices.Equal(out[len(out)-1], k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// evenCuts returns the n-1 integers that cut [lo, hi] into n intervals of
// about equal length, each before hi, without repeats.
func evenCuts(lo, hi *big.Int, n int) [][]string {
	span := new(big.Int).Sub(hi, lo)
	var out [][]string
	for i := 1; i < n; i++ {
		c := new(big.Int).Mul(span, big.NewInt(int64(i)))
		c.Div(c, big.NewInt(int64(n))).Add(c, lo)
		if c.Cmp(hi) >= 0 || len(out) > 0 && out[len(out)-1][0] == c.String() {
			continue
		}
		out = append(out, []string{c.String()})
	}
	return out
}

// integerType reports whether a MySQL column type is an integer type.
func integerType(typ string) bool {
	switch typ {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// keyColumns returns t's quoted primary-key columns in key order.
func keyColumns(t *schema.Table) []string {
	out := make([]string, len(t.Key))
	for i, k := range t.Key {
		out[i] = quoteIdent(t.Columns[k].Name)
	}
	return out
}

// chunkQuery is the SELECT of one chunk: every column (SelectExpr) and then
// the key columns as they are (their text is the next chunk's start),
// after `after` and up to through in key order, at most limit rows. The
// keys are passed as arguments (len(after)+len(through) of them), except
// that a key of integer and decimal columns whose texts are plain numbers
// is written into the query as numeric literals: a query without
// arguments goes in the text protocol, whose rows the driver hands over
// as they came, instead of a prepared statement per chunk (three round
// trips) whose binary rows it converts to text value by value.
func chunkQuery(t *schema.Table, after, through []string, limit int) (string, []any) {
	inline := numericKey(t, after) && numericKey(t, through)
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(SelectExpr(&t.Columns[i]))
	}
	keys := keyColumns(t)
	for _, k := range keys {
		b.WriteString(", ")
		b.WriteString(k)
	}
	b.WriteString(" FROM ")
	b.WriteString(QuoteTable(t.ID))
	var where []string
	var args []any
	cmp := func(op string, vals []string) {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")
		if inline {
			ph = strings.Join(vals, ", ")
		}
		if len(keys) == 1 {
			where = append(where, keys[0]+" "+op+" "+ph)
		} else {
			where = append(where, "("+strings.Join(keys, ", ")+") "+op+" ("+ph+")")
		}
		if !inline {
			for _, v := range vals {
				args = append(args, v)
			}
		}
	}
	if len(after) > 0 {
		cmp(">", after)
	}
	if len(through) > 0 {
		cmp("<=", through)
	}
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(strings.Join(keys, ", "))
	fmt.Fprintf(&b, " LIMIT %d", limit)
	return b.String(), args
}

// numericKey reports whether every column of t's key is of an integer or
// decimal type and every text in vals (a key's, in key order) is a plain
// number, which the query may then carry as a literal of the same value.
func numericKey(t *schema.Table, vals []string) bool {
	for i, v := range vals {
		if i >= len(t.Key) || !plainNumber(v) {
			return false
		}
		switch t.Columns[t.Key[i]].Type {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric":
		default:
			return false
		}
	}
	return true
}

// plainNumber reports whether s is an optional minus sign, digits and
// optionally a point and more digits: a literal that means what it says.
func plainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	ip, fp, dot := strings.Cut(s, ".")
	digits := func(d string) bool {
		for _, c := range []byte(d) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return len(d) > 0
	}
	return digits(ip) && (!dot || digits(fp))
}

// ReadChunk reads up to limit rows of t after the key after and up to
// through, in one SELECT, and passes each row's values in the binlog's
// representation (FromText, with the key normalised as NormalizeKey does
// for the stream's rows).
func (sn *Snapshotter) ReadChunk(ctx context.Context, t *schema.Table, after, through []string, limit int, row func(vals []any) error) ([]string, error) {
	return sn.readChunk(ctx, t, after, through, limit, false, row)
}

// ReadChunkTransient is ReadChunk whose rows share one slice of values,
// whose strings and binary strings are the driver's buffers: row must not
// retain them (snapshot.TransientReader).
func (sn *Snapshotter) ReadChunkTransient(ctx context.Context, t *schema.Table, after, through []string, limit int, row func(vals []any) error) ([]string, error) {
	return sn.readChunk(ctx, t, after, through, limit, true, row)
}

func (sn *Snapshotter) readChunk(ctx context.Context, t *schema.Table, after, through []string, limit int, transient bool,
	row func(vals []any) error) ([]string, error) {
	if err := snapshotable(t); err != nil {
		return nil, err
	}
	q, args := chunkQuery(t, after, through, limit)
	rs, err := sn.db.QueryContext(ctx, q, args...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("mysql: snapshot of %s: %w", t.ID, err)
	}
	defer rs.Close()
	n := len(t.Columns)
	raw := make([]sql.RawBytes, n+len(t.Key))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var last []string
	var vals []any
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return nil, fmt.Errorf("mysql: snapshot of %s: %w", t.ID, err)
		}
		if transient && vals != nil {
			clear(vals)
		} else {
			vals = make([]any, n)
		}
		for i := range t.Columns {
			if raw[i] == nil {
				continue
			}
			if vals[i], err = fromText(&t.Columns[i], raw[i], !transient); err != nil {
				return nil, fmt.Errorf("mysql: snapshot of %s: %w", t.ID, err)
			}
		}
		NormalizeKey(t, vals)
		if last == nil {
			last = make([]string, len(t.Key))
		}
		for i := range t.Key {
			last[i] = string(raw[n+i])
		}
		if err := row(vals); err != nil {
			return nil, err
		}
	}
	if err := rs.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("mysql: snapshot of %s: %w", t.ID, err)
	}
	return last, nil
}

// NormalizeKey puts the key values of a row image (binlog or FromText
// representation) into one form, so that the snapshot engine, which
// compares keys by their text, finds a chunk's row and the stream's
// change of the same key equal. A BINARY(n) value is padded with 0x00 to
// n bytes when stored; the binlog drops the trailing 0x00 bytes, a SELECT
// returns them: both lose them here (the Avro encoding pads them back, so
// the events do not change). Other key types already have one form: the
// binlog decoder's and FromText's values agree (TestKeyText).
func NormalizeKey(t *schema.Table, row []any) {
	for _, k := range t.Key {
		if k >= len(row) || t.Columns[k].Type != "binary" {
			continue
		}
		switch v := row[k].(type) {
		case []byte:
			row[k] = []byte(strings.TrimRight(string(v), "\x00"))
		case string:
			row[k] = strings.TrimRight(v, "\x00")
		}
	}
}
