// Package schema owns table schemas, their history by source position, the
// mapping of source column types to Avro, the Avro encoding of change events
// and the schema registry. It does no network I/O to the database: capture
// packages describe tables with the types below.
package schema

import (
	"fmt"
	"strings"
)

// SourceKind names the kind of database a table comes from. It selects the
// type mapping and the shape of the envelope's source block.
type SourceKind string

// Source kinds.
const (
	Postgres SourceKind = "postgres"
	MySQL    SourceKind = "mysql"
)

// TableID names a table: Namespace is the Postgres schema or the MySQL
// database. Both parts are case-sensitive.
type TableID struct {
	Namespace string
	Name      string
}

// String returns "namespace.name".
func (id TableID) String() string { return id.Namespace + "." + id.Name }

// ParseTableID splits "namespace.name" at the first dot.
func ParseTableID(s string) (TableID, error) {
	ns, name, ok := strings.Cut(s, ".")
	if !ok || ns == "" || name == "" {
		return TableID{}, fmt.Errorf("table %q: want <schema>.<table>", s)
	}
	return TableID{Namespace: ns, Name: name}, nil
}

// Column describes one column as the source defines it at one position.
// Capture packages fill it from the replication stream (and, where the stream
// lacks a fact, from the catalog under the rules documented in docs/TYPES.md).
type Column struct {
	Name string `json:"name"`
	// Type is the source's type name: for Postgres the pg_type.typname
	// ("int4", "numeric", "_text", "varchar", an enum's name); for MySQL the
	// column type as in information_schema.COLUMNS.DATA_TYPE ("int",
	// "decimal", "varchar", ...).
	Type string `json:"type"`
	// OID is the Postgres type OID (0 for MySQL).
	OID uint32 `json:"oid,omitempty"`
	// TypeMod is the Postgres atttypmod (-1 when none).
	TypeMod int32 `json:"typmod,omitempty"`
	// Elem describes the element type of an array column (Postgres).
	Elem *Column `json:"elem,omitempty"`
	// Enum lists the labels of an enum (Postgres enum, MySQL ENUM/SET) in
	// declaration order.
	Enum []string `json:"enum,omitempty"`
	// Nullable is false only when the source guarantees NOT NULL.
	Nullable bool `json:"nullable"`
	// Length, Precision and Scale carry the declared size where the type has
	// one (-1 / 0 when it does not).
	Length    int `json:"length,omitempty"`
	Precision int `json:"precision,omitempty"`
	Scale     int `json:"scale,omitempty"`
	// Unsigned marks MySQL unsigned integer and decimal types.
	Unsigned bool `json:"unsigned,omitempty"`
	// Charset is the MySQL character set of a string column ("binary" for
	// binary strings).
	Charset string `json:"charset,omitempty"`
	// Kind is the Postgres pg_type.typtype ('b' base, 'e' enum, 'd' domain,
	// 'c' composite, 'r' range) as a string; empty for MySQL.
	Kind string `json:"kind,omitempty"`
}

// Table is one version of a table's schema.
type Table struct {
	ID      TableID  `json:"id"`
	Columns []Column `json:"columns"`
	// Key holds the indexes into Columns of the primary-key (or replica
	// identity) columns, in key order. Empty: the table has no key and its
	// records get a null Kafka key.
	Key []int `json:"key,omitempty"`
}

// Column returns the index of the named column, or -1.
func (t *Table) Column(name string) int {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// Equal reports whether two versions describe the same columns and key.
func (t *Table) Equal(o *Table) bool {
	if t == nil || o == nil {
		return t == o
	}
	if t.ID != o.ID || len(t.Columns) != len(o.Columns) || len(t.Key) != len(o.Key) {
		return false
	}
	for i := range t.Key {
		if t.Key[i] != o.Key[i] {
			return false
		}
	}
	for i := range t.Columns {
		if !columnEqual(&t.Columns[i], &o.Columns[i]) {
			return false
		}
	}
	return true
}

func columnEqual(a, b *Column) bool {
	if a.Name != b.Name || a.Type != b.Type || a.OID != b.OID || a.TypeMod != b.TypeMod ||
		a.Nullable != b.Nullable || a.Length != b.Length || a.Precision != b.Precision ||
		a.Scale != b.Scale || a.Unsigned != b.Unsigned || a.Charset != b.Charset || a.Kind != b.Kind ||
		len(a.Enum) != len(b.Enum) {
		return false
	}
	for i := range a.Enum {
		if a.Enum[i] != b.Enum[i] {
			return false
		}
	}
	if (a.Elem == nil) != (b.Elem == nil) {
		return false
	}
	return a.Elem == nil || columnEqual(a.Elem, b.Elem)
}
