package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
)

// Filter selects the captured tables (capture.Filter).
type Filter = capture.Filter

// systemDatabases are never captured.
var systemDatabases = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

// captured reports whether f captures the table; tables of the system
// databases never are.
func captured(f *Filter, id schema.TableID) bool {
	return !systemDatabases[strings.ToLower(id.Namespace)] && f.Match(id)
}

// querier is a *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Collations returns collation id -> character set name. The binlog's
// table metadata names collations by id; the ids are the server's, so they
// are read from the server (MariaDB 10.10+ lists its full collation ids
// only in COLLATION_CHARACTER_SET_APPLICABILITY).
func Collations(ctx context.Context, q querier) (map[uint64]string, error) {
	out := map[uint64]string{}
	read := func(query string) error {
		rows, err := q.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id sql.NullInt64
			var cs sql.NullString
			if err := rows.Scan(&id, &cs); err != nil {
				return err
			}
			if id.Valid && cs.Valid {
				out[uint64(id.Int64)] = cs.String
			}
		}
		return rows.Err()
	}
	errA := read("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
	errB := read("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
	if len(out) == 0 {
		if errA != nil {
			return nil, fmt.Errorf("mysql: reading collations: %w", errA)
		}
		return nil, fmt.Errorf("mysql: reading collations: %w", errB)
	}
	return out, nil
}

// ListTables returns the captured base tables, sorted by name, after
// checking the include list against every user table (Filter.Verify); the
// warnings name globs that match nothing.
func ListTables(ctx context.Context, q querier, f *Filter) (tables []schema.TableID, warnings []string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'`)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql: listing tables: %w", err)
	}
	defer rows.Close()
	var out, all []schema.TableID
	for rows.Next() {
		var id schema.TableID
		if err := rows.Scan(&id.Namespace, &id.Name); err != nil {
			return nil, nil, err
		}
		if systemDatabases[strings.ToLower(id.Namespace)] {
			continue
		}
		all = append(all, id)
		if f.Match(id) {
			out = append(out, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("mysql: listing tables: %w", err)
	}
	if warnings, err = f.Verify(all); err != nil {
		return nil, nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, warnings, nil
}

// infoColumn is a column as information_schema describes it today.
type infoColumn struct {
	name, dataType, columnType, charset string
	nullable, key, json                 bool
	octets, precision, scale, fsp       sql.NullInt64
}

// readColumns reads a table's columns in ordinal order, with MariaDB's JSON
// columns (LONGTEXT with a json_valid check) marked.
func readColumns(ctx context.Context, q querier, id schema.TableID) ([]infoColumn, error) {
	rows, err := q.QueryContext(ctx, `
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(CHARACTER_SET_NAME, ''), IS_NULLABLE = 'YES', COLUMN_KEY = 'PRI',
       CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, id.Namespace, id.Name)
	if err != nil {
		return nil, fmt.Errorf("mysql: columns of %s: %w", id, err)
	}
	defer rows.Close()
	var cols []infoColumn
	for rows.Next() {
		var c infoColumn
		if err := rows.Scan(&c.name, &c.dataType, &c.columnType, &c.charset, &c.nullable, &c.key,
			&c.octets, &c.precision, &c.scale, &c.fsp); err != nil {
			return nil, err
		}
		c.dataType = strings.ToLower(c.dataType)
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql: columns of %s: %w", id, err)
	}
	// MariaDB's JSON is an alias of LONGTEXT plus CHECK (json_valid(col)).
	// CHECK_CONSTRAINTS does not exist before MariaDB 10.3.10 / MySQL
	// 8.0.16; without it nothing is marked.
	crows, err := q.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, id.Namespace, id.Name)
	if err == nil {
		defer crows.Close()
		for crows.Next() {
			var clause string
			if crows.Scan(&clause) != nil {
				break
			}
			for i := range cols {
				if cols[i].dataType == "longtext" && strings.EqualFold(strings.TrimSpace(clause), "json_valid(`"+strings.ReplaceAll(cols[i].name, "`", "``")+"`)") {
					cols[i].json = true
				}
			}
		}
	}
	return cols, nil
}

// primaryKey returns the primary-key columns in key order.
func primaryKey(ctx context.Context, q querier, id schema.TableID) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, id.Namespace, id.Name)
	if err != nil {
		return nil, fmt.Errorf("mysql: primary key of %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Describe reads a table's current definition from information_schema, in
// the same form TableFromMap builds from the binlog, so the snapshot and
// the stream agree on the table version. The snapshot reads it inside its
// consistent-snapshot transaction (MySQL's metadata locks keep the table
// from changing under the transaction once it is read).
func Describe(ctx context.Context, q querier, id schema.TableID) (*schema.Table, error) {
	cols, err := readColumns(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("mysql: table %s has no columns (dropped?)", id)
	}
	keys, err := primaryKey(ctx, q, id)
	if err != nil {
		return nil, err
	}
	t := &schema.Table{ID: id}
	for _, ic := range cols {
		c := schema.Column{Name: ic.name, Type: ic.dataType, Nullable: ic.nullable,
			Unsigned: strings.Contains(strings.ToLower(ic.columnType), "unsigned")}
		switch ic.dataType {
		case "decimal", "numeric":
			c.Type = "decimal"
			c.Precision, c.Scale = int(ic.precision.Int64), int(ic.scale.Int64)
		case "datetime", "timestamp", "time":
			c.Precision = int(ic.fsp.Int64)
		case "bit":
			c.Length = int(ic.precision.Int64)
		case "char", "varchar", "binary", "varbinary":
			c.Length = int(ic.octets.Int64)
			c.Charset = ic.charset
		case "tinytext", "text", "mediumtext", "longtext":
			c.Charset = ic.charset
			if ic.json {
				c.Type = "json"
			}
		case "enum", "set":
			c.Charset = ic.charset
			labels, err := parseEnumLabels(ic.columnType)
			if err != nil {
				return nil, fmt.Errorf("mysql: table %s column %s: %w", id, ic.name, err)
			}
			c.Enum = labels
		case "json":
			// MySQL's binary JSON has no character set.
		case "geomcollection":
			c.Type = "geometrycollection"
		case "integer":
			c.Type = "int"
		case "real":
			c.Type = "double"
		}
		switch c.Type {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
			c.Charset = "binary"
		}
		t.Columns = append(t.Columns, c)
	}
	for _, k := range keys {
		i := t.Column(k)
		if i < 0 {
			return nil, fmt.Errorf("mysql: table %s: primary key column %s not found", id, k)
		}
		t.Key = append(t.Key, i)
		t.Columns[i].Nullable = false
	}
	return t, nil
}

// parseEnumLabels parses COLUMN_TYPE "enum('a','b”c')" or "set(...)".
func parseEnumLabels(ct string) ([]string, error) {
	open := strings.IndexByte(ct, '(')
	if open < 0 || !strings.HasSuffix(ct, ")") {
		return nil, fmt.Errorf("cannot read the labels of %q", ct)
	}
	s := ct[open+1 : len(ct)-1]
	var labels []string
	for len(s) > 0 {
		if s[0] != '\'' {
			return nil, fmt.Errorf("cannot read the labels of %q", ct)
		}
		var b strings.Builder
		i := 1
		for {
			if i >= len(s) {
				return nil, fmt.Errorf("cannot read the labels of %q", ct)
			}
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		labels = append(labels, b.String())
		s = s[i+1:]
		if len(s) > 0 {
			if s[0] != ',' {
				return nil, fmt.Errorf("cannot read the labels of %q", ct)
			}
			s = s[1:]
		}
	}
	return labels, nil
}

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// QuoteTable returns `db`.`table`.
func QuoteTable(id schema.TableID) string {
	return quoteIdent(id.Namespace) + "." + quoteIdent(id.Name)
}
