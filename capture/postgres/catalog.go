package postgres

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// Filter selects the captured tables (capture.Filter).
type Filter = capture.Filter

// catalog reads type and table definitions from the database, as they
// are now: it caches nothing. Decoding reaches it only through
// catalogLookup, and caches what it may through resolver.
type catalog struct {
	conn *pgx.Conn
}

// typeInfo is one pg_type row, with an enum's labels in sort order.
type typeInfo struct {
	name    string
	kind    string // typtype
	elem    uint32
	base    uint32
	baseMod int32
	enum    []string
}

func newCatalog(conn *pgx.Conn) *catalog { return &catalog{conn: conn} }

func (c *catalog) typeDef(ctx context.Context, oid uint32) (*typeInfo, error) {
	t := &typeInfo{}
	err := c.conn.QueryRow(ctx,
		`SELECT typname, typtype::text, typelem, typbasetype, typtypmod FROM pg_type WHERE oid = $1`, oid,
	).Scan(&t.name, &t.kind, &t.elem, &t.base, &t.baseMod)
	if err != nil {
		return nil, fmt.Errorf("postgres: type %d: %w", oid, err)
	}
	if t.kind == "e" {
		rows, err := c.conn.Query(ctx, `SELECT enumlabel FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder`, oid)
		if err != nil {
			return nil, fmt.Errorf("postgres: enum labels of %s: %w", t.name, err)
		}
		t.enum, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("postgres: enum labels of %s: %w", t.name, err)
		}
	}
	return t, nil
}

// keyColumns returns the primary-key columns of a table in key order, or
// the replica identity index's columns when there is no primary key.
func (c *catalog) keyColumns(ctx context.Context, relid uint32) ([]string, error) {
	rows, err := c.conn.Query(ctx, `
SELECT a.attname
FROM pg_index i
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND (i.indisprimary OR (i.indisreplident AND NOT EXISTS (
    SELECT 1 FROM pg_index p WHERE p.indrelid = $1 AND p.indisprimary)))
ORDER BY i.indisprimary DESC, k.ord`, relid)
	if err != nil {
		return nil, fmt.Errorf("postgres: key of relation %d: %w", relid, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// firstUserOID is FirstNormalObjectId: objects below it are built into
// the server and never change, objects from it on are the users' own.
const firstUserOID = 16384

// resolver turns column definitions into table versions, resolving types
// through a catalogLookup. Built-in types are cached for the life of the
// resolver; user-defined types (enums, whose labels grow with ALTER TYPE
// ... ADD VALUE, and domains, which may be dropped and their OID reused)
// only until invalidate or forget.
type resolver struct {
	lookup catalogLookup
	types  map[uint32]*typeInfo
}

func newResolver(l catalogLookup) *resolver {
	return &resolver{lookup: l, types: map[uint32]*typeInfo{}}
}

func (r *resolver) typ(ctx context.Context, oid uint32) (*typeInfo, error) {
	if t, ok := r.types[oid]; ok {
		return t, nil
	}
	t, err := r.lookup.typeDef(ctx, oid)
	if err != nil {
		return nil, err
	}
	r.types[oid] = t
	return t, nil
}

// invalidate forgets every user-defined type, so that the next resolution
// reads it from the catalog again.
func (r *resolver) invalidate() {
	for oid := range r.types {
		if oid >= firstUserOID {
			delete(r.types, oid)
		}
	}
}

// forget forgets one type.
func (r *resolver) forget(oid uint32) { delete(r.types, oid) }

// column describes a column of type oid. Postgres declares a non-key
// column nullable in Avro even when it is NOT NULL: delete and update
// before-images under REPLICA IDENTITY DEFAULT carry only the key columns
// (docs/TYPES.md).
func (r *resolver) column(ctx context.Context, name string, oid uint32, typmod int32, key bool) (schema.Column, error) {
	t, err := r.typ(ctx, oid)
	if err != nil {
		return schema.Column{}, err
	}
	// A domain is captured as its base type.
	for depth := 0; t.kind == "d" && depth < 8; depth++ {
		if typmod == -1 {
			typmod = t.baseMod
		}
		oid = t.base
		if t, err = r.typ(ctx, oid); err != nil {
			return schema.Column{}, err
		}
	}
	col := schema.Column{Name: name, Type: t.name, OID: oid, TypeMod: typmod, Nullable: !key, Kind: t.kind, Enum: t.enum}
	if t.elem != 0 && len(t.name) > 0 && t.name[0] == '_' {
		elem, err := r.column(ctx, "", t.elem, typmod, false)
		if err != nil {
			return schema.Column{}, err
		}
		col.Elem = &elem
	}
	return col, nil
}

type tableRef struct {
	ID    schema.TableID
	RelID uint32
}

// listTables returns the captured user tables, sorted by name, after
// checking the include list against every user table (Filter.Verify).
func (c *catalog) listTables(ctx context.Context, f *Filter) ([]tableRef, []string, error) {
	rows, err := c.conn.Query(ctx, `
SELECT c.oid, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'`)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: listing tables: %w", err)
	}
	var (
		out []tableRef
		all []schema.TableID
	)
	for rows.Next() {
		var r tableRef
		if err := rows.Scan(&r.RelID, &r.ID.Namespace, &r.ID.Name); err != nil {
			rows.Close()
			return nil, nil, err
		}
		all = append(all, r.ID)
		if f.Match(r.ID) {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("postgres: listing tables: %w", err)
	}
	warnings, err := f.Verify(all)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out, warnings, nil
}

// columns reads a table's current columns from the catalog.
func (c *catalog) columns(ctx context.Context, ref tableRef) ([]colDef, error) {
	rows, err := c.conn.Query(ctx, `
SELECT attname, atttypid, atttypmod FROM pg_attribute
WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, ref.RelID)
	if err != nil {
		return nil, fmt.Errorf("postgres: columns of %s: %w", ref.ID, err)
	}
	var cols []colDef
	for rows.Next() {
		var a colDef
		if err := rows.Scan(&a.name, &a.oid, &a.typmod); err != nil {
			rows.Close()
			return nil, err
		}
		cols = append(cols, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: columns of %s: %w", ref.ID, err)
	}
	return cols, nil
}

// describe reads a table's current definition from the catalog. It is
// used for the snapshot (which reads the table as of the same catalog
// snapshot); streaming builds versions from relation messages instead.
func (c *catalog) describe(ctx context.Context, r *resolver, ref tableRef) (*schema.Table, error) {
	keys, err := c.keyColumns(ctx, ref.RelID)
	if err != nil {
		return nil, err
	}
	cols, err := c.columns(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.table(ctx, ref.ID, cols, keys)
}

type colDef struct {
	name   string
	oid    uint32
	typmod int32
}

// table builds a table version from column definitions and key names; the
// snapshot and the stream both come through here, so equal definitions
// give equal versions.
func (r *resolver) table(ctx context.Context, id schema.TableID, cols []colDef, keys []string) (*schema.Table, error) {
	keyIdx := map[string]int{}
	for i, k := range keys {
		keyIdx[k] = i
	}
	t := &schema.Table{ID: id, Key: make([]int, 0, len(keys))}
	pos := make([]int, len(keys))
	found := 0
	for i, cd := range cols {
		ki, isKey := keyIdx[cd.name]
		col, err := r.column(ctx, cd.name, cd.oid, cd.typmod, isKey)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", id, cd.name, err)
		}
		t.Columns = append(t.Columns, col)
		if isKey {
			pos[ki] = i
			found++
		}
	}
	if found == len(keys) {
		t.Key = append(t.Key, pos...)
	} else {
		// The key named columns this version does not have (it changed
		// since); fall back to no key rather than a wrong one.
		for i := range t.Columns {
			t.Columns[i].Nullable = true
		}
		t.Key = nil
	}
	return t, nil
}
