package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// Unchanged TOASTed values. pgoutput leaves out a value stored out of line
// (TOAST) when an UPDATE did not change it, unless the table's REPLICA
// IDENTITY is FULL (then the old tuple carries it and the decoder fills it
// in). Sluice writes Debezium's placeholder for such a value where the
// column's Avro type can hold one (text-like types, bytea, bit strings,
// their arrays, integer[] and bigint[]: schema.ColumnType.Unavailable).
// For any other type the value cannot be represented, and the event would
// stop the pipeline for good: the change stays in the slot, and a later
// ALTER TABLE ... REPLICA IDENTITY FULL applies only to later changes. So
// such a table is refused before streaming starts (Open) and reported by
// `sluice check`, while the fix still costs nothing.
//
// A column is at risk when its storage moves values out of line at about
// 2 kB (attstorage 'x' extended or 'e' external, the default of arrays,
// jsonb and other varlena types). Storage 'm' (main: numeric, inet)
// moves a value out of line only when the row does not fit in a page even
// compressed; docs/TYPES.md says so rather than refusing every table with
// a numeric column.

// ToastRisk is a captured table whose unchanged TOASTed values of the
// listed columns pgoutput would not send and Sluice cannot stand in for.
type ToastRisk struct {
	Table schema.TableID
	// Identity is pg_class.relreplident: d (default) or i (an index).
	Identity string
	Columns  []ToastColumn
}

// ToastColumn is one at-risk column.
type ToastColumn struct {
	Name string
	Type string // format_type, e.g. "integer[]"
}

// Fix is the statement that removes the risk.
func (r ToastRisk) Fix() string {
	return "ALTER TABLE " + pgx.Identifier{r.Table.Namespace, r.Table.Name}.Sanitize() + " REPLICA IDENTITY FULL"
}

// Describe names the columns and the identity, for check output and errors.
func (r ToastRisk) Describe() string {
	cols := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		cols[i] = c.Name + " (" + c.Type + ")"
	}
	ident := "DEFAULT"
	if r.Identity == "i" {
		ident = "USING INDEX"
	}
	return fmt.Sprintf("REPLICA IDENTITY %s, and %s can be stored out of line (TOAST) with no placeholder in Sluice's mapping: "+
		"an UPDATE that leaves such a value unchanged arrives without it and would stop the pipeline", ident, strings.Join(cols, ", "))
}

// ErrToastRisk is wrapped by the SetupError Open returns for tables with
// ToastRisks.
var ErrToastRisk = errors.New("unchanged TOASTed values of these columns would not be sent")

// ToastRisks returns the tables among tables (nil: every user table) with
// at-risk columns, sorted by name. Columns in exclude (by table
// "<schema>.<table>", then column name) are never emitted, so they are no
// risk.
func ToastRisks(ctx context.Context, conn *pgx.Conn, tables []schema.TableID, exclude map[string]map[string]bool) ([]ToastRisk, error) {
	cat := newCatalog(conn)
	return toastRisks(ctx, cat, newResolver(cat), tables, exclude)
}

func toastRisks(ctx context.Context, cat *catalog, res *resolver, tables []schema.TableID, exclude map[string]map[string]bool) ([]ToastRisk, error) {
	want := make(map[schema.TableID]bool, len(tables))
	for _, t := range tables {
		want[t] = true
	}
	// REPLICA IDENTITY NOTHING is left out: Postgres refuses the table's
	// UPDATEs once it is published (checkPrimaryKeys warns about it).
	rows, err := cat.conn.Query(ctx, `
SELECT n.nspname, c.relname, c.relreplident::text, a.attname, a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relreplident IN ('d', 'i')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attlen = -1 AND a.attstorage IN ('x', 'e')
ORDER BY n.nspname, c.relname, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("postgres: reading column storage: %w", err)
	}
	type cand struct {
		risk   ToastRisk
		col    ToastColumn
		oid    uint32
		typmod int32
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.risk.Table.Namespace, &c.risk.Table.Name, &c.risk.Identity, &c.col.Name, &c.oid, &c.typmod, &c.col.Type); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: reading column storage: %w", err)
		}
		if (tables == nil || want[c.risk.Table]) && !exclude[c.risk.Table.String()][c.col.Name] {
			cands = append(cands, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: reading column storage: %w", err)
	}
	var out []ToastRisk
	for _, c := range cands {
		if neverOutOfLine(c.oid, c.typmod) {
			continue
		}
		col, err := res.column(ctx, c.col.Name, c.oid, c.typmod, false)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", c.risk.Table, c.col.Name, err)
		}
		ct, err := schema.PostgresColumnType(&col)
		if err != nil || ct.Unavailable != nil {
			// A type Sluice cannot map at all is reported where it is
			// mapped; this check is about placeholders only.
			continue
		}
		if n := len(out); n > 0 && out[n-1].Table == c.risk.Table {
			out[n-1].Columns = append(out[n-1].Columns, c.col)
			continue
		}
		r := c.risk
		r.Columns = []ToastColumn{c.col}
		out = append(out, r)
	}
	return out, nil
}

// toastError is Open's refusal for tables with ToastRisks.
func toastError(risks []ToastRisk) error {
	var what, fixes []string
	for _, r := range risks {
		what = append(what, r.Table.String()+": "+r.Describe())
		fixes = append(fixes, r.Fix())
	}
	return &capture.SetupError{What: "postgres replica identity",
		Err: fmt.Errorf("%w: %s", ErrToastRisk, strings.Join(what, "; ")),
		Fix: strings.Join(fixes, "; ") + " (see docs/operations.md, \"Unchanged TOASTed values\")"}
}

// neverOutOfLine reports a column whose values are never stored out of
// line: Postgres moves only a value larger than a TOAST pointer (24 bytes
// aligned) out of line, and a bit(n) or bit varying(n) value of n <= 128
// bits takes at most 8 + 16 bytes.
func neverOutOfLine(oid uint32, typmod int32) bool {
	const bit, varbit = 1560, 1562
	return (oid == bit || oid == varbit) && typmod > 0 && typmod <= 128
}
