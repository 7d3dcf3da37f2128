package mysql

import (
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/schema"
)

// ErrNoRowMetadata reports a TABLE_MAP event without column names: the
// server writes them only with binlog_row_metadata=FULL, and without them
// the rows cannot be decoded with the schema of their position.
var ErrNoRowMetadata = errors.New("the binlog's TABLE_MAP event has no column names (binlog_row_metadata is not FULL)")

// TableFromMap builds a table version from a TABLE_MAP event with full row
// metadata: names, types with their binlog metadata (length, precision,
// fractional seconds), signedness, character sets (through collations, the
// server's collation id -> charset map), enum and set labels, nullability
// and the primary key. It uses nothing but the event, so a row is always
// described as it was when it was written.
//
// The binlog does not say that a MariaDB LONGTEXT is JSON; ApplyInfo adds
// that from information_schema under the rule in docs/TYPES.md.
func TableFromMap(ev *replication.TableMapEvent, collations map[uint64]string) (*schema.Table, error) {
	id := schema.TableID{Namespace: string(ev.Schema), Name: string(ev.Table)}
	n := int(ev.ColumnCount)
	names := ev.ColumnNameString()
	if len(names) != n {
		return nil, fmt.Errorf("table %s: %w", id, ErrNoRowMetadata)
	}
	if len(ev.ColumnType) != n || len(ev.ColumnMeta) != n {
		return nil, fmt.Errorf("mysql: table %s: TABLE_MAP has %d columns but %d types and %d metadata entries", id, n, len(ev.ColumnType), len(ev.ColumnMeta))
	}
	unsigned := ev.UnsignedMap()
	charsets := ev.CollationMap()
	enumSetCharsets := ev.EnumSetCollationMap()
	enums := ev.EnumStrValueMap()
	sets := ev.SetStrValueMap()
	geoms := ev.GeometryTypeMap()
	charset := func(m map[int]uint64, i int) string {
		coll, ok := m[i]
		if !ok {
			return ""
		}
		if coll == 63 {
			return "binary"
		}
		return collations[coll]
	}
	t := &schema.Table{ID: id, Columns: make([]schema.Column, n)}
	for i := 0; i < n; i++ {
		c := &t.Columns[i]
		c.Name = names[i]
		if avail, nullable := ev.Nullable(i); avail {
			c.Nullable = nullable
		} else {
			c.Nullable = true
		}
		c.Unsigned = unsigned[i]
		meta := ev.ColumnMeta[i]
		switch typ := ev.ColumnType[i]; typ {
		case gomysql.MYSQL_TYPE_TINY:
			c.Type = "tinyint"
		case gomysql.MYSQL_TYPE_SHORT:
			c.Type = "smallint"
		case gomysql.MYSQL_TYPE_INT24:
			c.Type = "mediumint"
		case gomysql.MYSQL_TYPE_LONG:
			c.Type = "int"
		case gomysql.MYSQL_TYPE_LONGLONG:
			c.Type = "bigint"
		case gomysql.MYSQL_TYPE_NEWDECIMAL:
			c.Type, c.Precision, c.Scale = "decimal", int(meta>>8), int(meta&0xff)
		case gomysql.MYSQL_TYPE_FLOAT:
			c.Type = "float"
		case gomysql.MYSQL_TYPE_DOUBLE:
			c.Type = "double"
		case gomysql.MYSQL_TYPE_BIT:
			c.Type, c.Length = "bit", int(meta>>8)*8+int(meta&0xff)
		case gomysql.MYSQL_TYPE_TIMESTAMP:
			c.Type = "timestamp"
		case gomysql.MYSQL_TYPE_TIMESTAMP2:
			c.Type, c.Precision = "timestamp", int(meta)
		case gomysql.MYSQL_TYPE_DATETIME:
			c.Type = "datetime"
		case gomysql.MYSQL_TYPE_DATETIME2:
			c.Type, c.Precision = "datetime", int(meta)
		case gomysql.MYSQL_TYPE_TIME:
			c.Type = "time"
		case gomysql.MYSQL_TYPE_TIME2:
			c.Type, c.Precision = "time", int(meta)
		case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
			c.Type = "date"
		case gomysql.MYSQL_TYPE_YEAR:
			c.Type = "year"
		case gomysql.MYSQL_TYPE_ENUM, gomysql.MYSQL_TYPE_SET, gomysql.MYSQL_TYPE_STRING:
			rt, length := stringType(typ, meta)
			switch rt {
			case gomysql.MYSQL_TYPE_ENUM:
				c.Type, c.Enum, c.Charset = "enum", enums[i], charset(enumSetCharsets, i)
			case gomysql.MYSQL_TYPE_SET:
				c.Type, c.Enum, c.Charset = "set", sets[i], charset(enumSetCharsets, i)
			default:
				c.Type, c.Length, c.Charset = "char", length, charset(charsets, i)
				if c.Charset == "binary" {
					c.Type = "binary"
				}
			}
		case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
			c.Type, c.Length, c.Charset = "varchar", int(meta), charset(charsets, i)
			if c.Charset == "binary" {
				c.Type = "varbinary"
			}
		case gomysql.MYSQL_TYPE_BLOB, gomysql.MYSQL_TYPE_TINY_BLOB, gomysql.MYSQL_TYPE_MEDIUM_BLOB, gomysql.MYSQL_TYPE_LONG_BLOB:
			size := map[uint16]string{1: "tiny", 2: "", 3: "medium", 4: "long"}[meta]
			c.Charset = charset(charsets, i)
			if c.Charset == "binary" {
				c.Type = size + "blob"
			} else {
				c.Type = size + "text"
			}
		case gomysql.MYSQL_TYPE_JSON:
			c.Type = "json"
		case gomysql.MYSQL_TYPE_GEOMETRY:
			c.Type = "geometry"
			if g, ok := geoms[i]; ok && g < uint64(len(geometryTypes)) {
				c.Type = geometryTypes[g]
			}
		default:
			// The type mapping refuses it with the table and column named.
			c.Type = fmt.Sprintf("binlog type %d", typ)
		}
	}
	for _, k := range ev.PrimaryKey {
		if int(k) >= n {
			return nil, fmt.Errorf("mysql: table %s: primary key column %d of %d", id, k, n)
		}
		t.Key = append(t.Key, int(k))
		t.Columns[k].Nullable = false
	}
	return t, nil
}

// geometryTypes are the TABLE_MAP geometry type codes (Field::geometry_type).
var geometryTypes = []string{"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}

// stringType decodes the real type and byte length of a MYSQL_TYPE_STRING
// column from its metadata (as the server packs it: the type in the high
// byte, with two bits of a length above 255 folded into it).
func stringType(typ byte, meta uint16) (byte, int) {
	if meta < 256 {
		return typ, int(meta)
	}
	b0, b1 := byte(meta>>8), byte(meta&0xff)
	if b0&0x30 != 0x30 {
		return b0 | 0x30, int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
	}
	return b0, int(b1)
}

// ApplyInfo completes a binlog-built table version with what only
// information_schema knows (today: MariaDB's JSON columns, which the binlog
// shows as LONGTEXT). info is the table's current definition. It is used
// only when it describes exactly the binlog's columns, same names and same
// types in the same order; otherwise the binlog's description stands, so a
// row is never described by a definition from another time. It returns
// whether info was used.
func ApplyInfo(t *schema.Table, info []infoColumn) bool {
	if len(info) != len(t.Columns) {
		return false
	}
	for i, ic := range info {
		c := &t.Columns[i]
		if ic.name != c.Name || !sameType(ic.dataType, c.Type) {
			return false
		}
	}
	for i, ic := range info {
		if ic.json && t.Columns[i].Type == "longtext" {
			t.Columns[i].Type = "json"
		}
	}
	return true
}

// sameType compares an information_schema DATA_TYPE with a binlog-derived
// type name.
func sameType(info, binlog string) bool {
	info = strings.ToLower(info)
	switch info {
	case "integer":
		info = "int"
	case "numeric":
		info = "decimal"
	case "real":
		info = "double"
	case "geomcollection":
		info = "geometrycollection"
	}
	return info == binlog
}

// needsInfo reports whether a table version has a column that
// information_schema may complete.
func needsInfo(t *schema.Table) bool {
	for i := range t.Columns {
		if t.Columns[i].Type == "longtext" {
			return true
		}
	}
	return false
}
