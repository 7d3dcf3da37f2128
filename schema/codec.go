package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// columnTypeFor maps a column of a source kind to its Avro type. Each
// source's mapping registers itself here.
var columnTypeFor = map[SourceKind]func(*Column) (ColumnType, error){}

// ErrNoKey is returned by AppendKey for a table without a key: its
// records carry a null Kafka key.
var ErrNoKey = errors.New("table has no primary key")

// ErrUnavailable wraps a value the source did not send for a type with no
// placeholder.
var ErrUnavailable = errors.New("the source did not send this unchanged value (TOAST) and the type has no placeholder; set REPLICA IDENTITY FULL on the table")

// Codec encodes the change events of one table version in the Debezium
// envelope. It is immutable and safe for concurrent use.
type Codec struct {
	Table       *Table
	Topic       string
	KeySchema   string // "" when the table has no key
	ValueSchema string

	kind      SourceKind
	connector string // source.connector: postgresql, mysql or mariadb
	name      string // connector name, for source.name
	cols      []int  // emitted columns: indexes into Table.Columns
	types     []ColumnType
	keyCols   []int // indexes into Table.Columns
	keyType   []ColumnType
	// valueRecord is the Avro schema of the Value record (the before and
	// after images), for transforms that emit a row without the envelope.
	valueRecord map[string]any
}

// TableError reports a table version that cannot be mapped to Avro: a
// column type without a mapping, a key column excluded, two columns that
// become one Avro field. The version is in the source's log, so a restart
// would meet it again: it stops Sluice.
type TableError struct {
	Table  TableID
	Column string // empty when the table as a whole is at fault
	Type   string // the column's source type, when that is the cause
	Err    error
	Fix    string
}

func (e *TableError) Error() string {
	s := "table " + e.Table.String()
	if e.Column != "" {
		s += " column " + strconv.Quote(e.Column)
	}
	if e.Type != "" {
		s += " (" + e.Type + ")"
	}
	s += ": " + e.Err.Error()
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

func (e *TableError) Unwrap() error { return e.Err }

var errKeyExcluded = errors.New("is part of the key and cannot be excluded")

// CodecOptions select what a Codec emits.
type CodecOptions struct {
	Kind SourceKind
	Name string // connector name: topic prefix and source.name
	// Exclude names columns (exact, case-sensitive) left out of the value.
	// Key columns cannot be excluded.
	Exclude map[string]bool
	// Override gives named value columns a type of their own instead of
	// the type mapping's (a masked column becomes a string). Key columns
	// cannot be overridden.
	Override map[string]ColumnType
	// Connector is source.connector, and names the source block's schema
	// (io.debezium.connector.<connector>.Source). Empty: Kind.Connector();
	// "mariadb" for a MariaDB server, as Debezium's MariaDB connector.
	Connector string
	// AvroLogicalTypes adds the standard Avro logicalTypes to temporal and
	// uuid columns (see WithLogicalTypes). False writes exactly Debezium's
	// schemas.
	AvroLogicalTypes bool
}

// NewCodec builds the key and value schemas of a table version for topic,
// and validates both with goavro.
func NewCodec(topic string, t *Table, o CodecOptions) (*Codec, error) {
	mapper := columnTypeFor[o.Kind]
	if mapper == nil {
		return nil, fmt.Errorf("no type mapping for source kind %q", o.Kind)
	}
	c := &Codec{Table: t, Topic: topic, kind: o.Kind, connector: o.Connector, name: o.Name}
	if c.connector == "" {
		c.connector = o.Kind.Connector()
	}
	ns := avroNamespace(topic)
	isKey := make(map[int]bool, len(t.Key))
	for _, k := range t.Key {
		isKey[k] = true
	}
	var valueFields []any
	defined := map[string]bool{}
	seen := map[string]string{}
	for i := range t.Columns {
		col := &t.Columns[i]
		if o.Exclude[col.Name] {
			if isKey[i] {
				return nil, &TableError{Table: t.ID, Column: col.Name, Err: errKeyExcluded,
					Fix: "remove " + t.ID.String() + "." + col.Name + " from source.exclude_columns (a key column keys the topic)"}
			}
			continue
		}
		ct, over := o.Override[col.Name]
		if over && isKey[i] {
			return nil, &TableError{Table: t.ID, Column: col.Name, Err: errors.New("is part of the key and cannot change its type"),
				Fix: "leave the key column out of the transform that changes it"}
		}
		if !over {
			var err error
			if ct, err = mapper(col); err != nil {
				return nil, &TableError{Table: t.ID, Column: col.Name, Type: col.Type, Err: err,
					Fix: "exclude the column (source.exclude_columns: [" + t.ID.String() + "." + col.Name + "]) or change its type"}
			}
			if o.AvroLogicalTypes {
				ct = WithLogicalTypes(o.Kind, ct)
			}
		}
		fname := AvroName(col.Name)
		if prev, dup := seen[fname]; dup {
			return nil, &TableError{Table: t.ID, Column: col.Name, Err: fmt.Errorf("columns %q and %q both become Avro field %q", prev, col.Name, fname),
				Fix: "rename one of the columns, or exclude one with source.exclude_columns"}
		}
		seen[fname] = col.Name
		c.cols = append(c.cols, i)
		c.types = append(c.types, ct)
		valueFields = append(valueFields, columnField(fname, col, ct, defined))
	}
	valueRecord := map[string]any{
		"type": "record", "name": "Value", "namespace": ns,
		"connect.name": ns + ".Value", "fields": orEmpty(valueFields),
	}
	c.valueRecord = valueRecord
	if len(t.Key) > 0 {
		var keyFields []any
		kdefined := map[string]bool{}
		for _, k := range t.Key {
			col := &t.Columns[k]
			ct, err := mapper(col)
			if o.AvroLogicalTypes {
				ct = WithLogicalTypes(o.Kind, ct)
			}
			if err != nil {
				return nil, &TableError{Table: t.ID, Column: col.Name, Type: col.Type, Err: err,
					Fix: "change the key column's type; docs/TYPES.md lists the supported types"}
			}
			c.keyCols = append(c.keyCols, k)
			c.keyType = append(c.keyType, ct)
			keyFields = append(keyFields, map[string]any{"name": AvroName(col.Name), "type": AvroTypeFor(ct, kdefined)})
		}
		key := map[string]any{
			"type": "record", "name": "Key", "namespace": ns,
			"connect.name": ns + ".Key", "fields": keyFields,
		}
		b, err := json.Marshal(key)
		if err != nil {
			return nil, err
		}
		c.KeySchema = string(b)
	}
	// The envelope of Debezium 3.x (Envelope.SCHEMA_VERSION 2).
	env := map[string]any{
		"type": "record", "name": "Envelope", "namespace": ns,
		"connect.name": ns + ".Envelope", "connect.version": 2,
		"fields": []any{
			optField("before", []any{"null", valueRecord}),
			optField("after", []any{"null", ns + ".Value"}),
			field("source", sourceSchema(c.connector)),
			field("op", "string"),
			optField("ts_ms", []any{"null", "long"}),
			optField("ts_us", []any{"null", "long"}),
			optField("ts_ns", []any{"null", "long"}),
			optField("transaction", []any{"null", transactionBlock}),
		},
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	c.ValueSchema = string(b)
	if c.KeySchema != "" {
		if _, err := goavro.NewCodec(c.KeySchema); err != nil {
			return nil, &TableError{Table: t.ID, Err: fmt.Errorf("key schema invalid: %w", err)}
		}
	}
	if _, err := goavro.NewCodec(c.ValueSchema); err != nil {
		return nil, &TableError{Table: t.ID, Err: fmt.Errorf("value schema invalid: %w", err)}
	}
	return c, nil
}

var transactionBlock = map[string]any{
	"type": "record", "name": "block", "namespace": "event", "connect.name": "event.block", "connect.version": 1,
	"fields": []any{
		field("id", "string"),
		field("total_order", "long"),
		field("data_collection_order", "long"),
	},
}

func orEmpty(f []any) []any {
	if f == nil {
		return []any{}
	}
	return f
}

func columnField(name string, col *Column, ct ColumnType, defined map[string]bool) map[string]any {
	typ := AvroTypeFor(ct, defined)
	if col.Nullable {
		return map[string]any{"name": name, "type": []any{"null", typ}, "default": nil}
	}
	return map[string]any{"name": name, "type": typ}
}

// AvroName turns an identifier into a valid Avro name the way Debezium's
// schema.name.adjustment.mode=avro does: every character outside
// [A-Za-z0-9_] becomes '_', and a leading digit gets a '_' prefix.
func AvroName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

func avroNamespace(topic string) string {
	parts := strings.Split(topic, ".")
	for i, p := range parts {
		parts[i] = AvroName(p)
	}
	return strings.Join(parts, ".")
}

// HasKey reports whether records of this table carry a key.
func (c *Codec) HasKey() bool { return len(c.keyCols) > 0 }

// AppendKey appends the Avro key record for row (values in Table.Columns
// order).
func (c *Codec) AppendKey(dst []byte, row []any) ([]byte, error) {
	if len(c.keyCols) == 0 {
		return dst, ErrNoKey
	}
	var err error
	for i, k := range c.keyCols {
		v := row[k]
		if v == nil || v == Unchanged {
			return dst, c.valueErr(k, v, errors.New("a key column has no value"))
		}
		if dst, err = c.keyType[i].Append(dst, v); err != nil {
			return dst, c.valueErr(k, v, err)
		}
	}
	return dst, nil
}

// Event is the input of AppendValue.
type Event struct {
	Op     byte
	Before []any // nil: absent
	After  []any
	// AfterRecord, when not nil, is After already encoded by AppendRecord
	// (After is then ignored): a snapshot row encoded on its reader's
	// goroutine, ahead of its source block.
	AfterRecord []byte
	Source      *SourceInfo
	// SourceRecord, when not nil, is Source already encoded by
	// AppendSource (Source is then ignored): the rows of a snapshot chunk
	// share one source block.
	SourceRecord []byte
	TsMs         int64     // processing time
	TsUs         int64     // the same in µs; 0: TsMs*1000
	Txn          *TxnBlock // the transaction block; nil: null
}

// AppendValue appends the Avro envelope of one change event.
func (c *Codec) AppendValue(dst []byte, e *Event) ([]byte, error) {
	var err error
	if dst, err = c.appendRow(dst, e.Before); err != nil {
		return dst, err
	}
	if e.AfterRecord != nil {
		dst = append(AppendNullableSome(dst), e.AfterRecord...)
	} else if dst, err = c.appendRow(dst, e.After); err != nil {
		return dst, err
	}
	if e.SourceRecord != nil {
		dst = append(dst, e.SourceRecord...)
	} else {
		dst = c.AppendSource(dst, e.Source)
	}
	dst = AppendString(dst, string(rune(e.Op)))
	dst = AppendLong(AppendNullableSome(dst), e.TsMs)
	us := e.TsUs
	if us == 0 {
		us = e.TsMs * 1000
	}
	dst = AppendLong(AppendNullableSome(dst), us)
	dst = AppendLong(AppendNullableSome(dst), us*1000)
	if e.Txn == nil {
		return AppendNullableNull(dst), nil // transaction
	}
	dst = AppendString(AppendNullableSome(dst), e.Txn.ID)
	dst = AppendLong(dst, e.Txn.TotalOrder)
	return AppendLong(dst, e.Txn.CollectionOrder), nil
}

// AppendSource appends the envelope's source block of an event of this
// table.
func (c *Codec) AppendSource(dst []byte, s *SourceInfo) []byte {
	return appendSource(dst, c.connector, c.name, c.Table.ID, s)
}

func (c *Codec) appendRow(dst []byte, row []any) ([]byte, error) {
	if row == nil {
		return AppendNullableNull(dst), nil
	}
	return c.AppendRecord(AppendNullableSome(dst), row)
}

// AppendRecord appends row (values in Table.Columns order) as the Value
// record of ValueRecord, without the envelope's null union.
func (c *Codec) AppendRecord(dst []byte, row []any) ([]byte, error) {
	var err error
	for i, ci := range c.cols {
		v := row[ci]
		nullable := c.Table.Columns[ci].Nullable
		switch {
		case v == nil:
			if !nullable {
				return dst, c.valueErr(ci, v, errNullInNotNull)
			}
			dst = AppendNullableNull(dst)
			continue
		case nullable:
			dst = AppendNullableSome(dst)
		}
		if v == Unchanged {
			if c.types[i].Unavailable == nil {
				return dst, c.valueErr(ci, v, ErrUnavailable)
			}
			dst = c.types[i].Unavailable(dst)
			continue
		}
		if dst, err = c.types[i].Append(dst, v); err != nil {
			return dst, c.valueErr(ci, v, err)
		}
	}
	return dst, nil
}

// errNullInNotNull reports a NULL in a column whose schema says NOT NULL.
// Capture packages only declare NOT NULL where the source guarantees it
// for every image of the row (see docs/TYPES.md), so this is a bug or a
// source inconsistency, and it stops the pipeline.
var errNullInNotNull = errors.New("NULL in a column declared NOT NULL")

func (c *Codec) valueErr(ci int, v any, err error) error {
	col := &c.Table.Columns[ci]
	p := "NULL"
	if v == Unchanged {
		p = "(unchanged, not sent)"
	} else if v != nil {
		p = Printable(v)
	}
	return &ValueError{Table: c.Table.ID, Column: col.Name, Type: col.Type, Value: p, Err: err}
}
