package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The MySQL/MariaDB type mapping. docs/TYPES.md ("MySQL and MariaDB") is its
// user-facing description; keep the two in step.
//
// Raw values are what go-mysql's binlog row decoder returns (with
// ParseTime=false, UseDecimal=false and TimestampStringLocation=UTC):
//
//	tinyint..bigint      int8, int16, int32 (mediumint and int), int64:
//	                     the bits of the stored value, so an UNSIGNED
//	                     column's large values arrive negative and are
//	                     reinterpreted here with Column.Unsigned
//	decimal              string, e.g. "-12.340"
//	float, double        float32, float64
//	bit(n)               int64, the bits as a big-endian integer
//	char, varchar, text  string or []byte in the column's character set
//	binary, varbinary,   string or []byte; binary(n) arrives without its
//	blob                 trailing 0x00 padding, which is put back here
//	date                 string "YYYY-MM-DD" ("0000-00-00" for the zero date)
//	datetime(p)          string "YYYY-MM-DD HH:MM:SS[.f{p}]"
//	timestamp(p)         the same, in UTC
//	time(p)              string "[-]HHH:MM:SS[.f]"
//	year                 int (0 for the zero year)
//	enum                 int64, the 1-based label index (0: the '' error value)
//	set                  int64, the bit mask of labels
//	json                 string or []byte: MySQL's binary JSON rendered as
//	                     text by go-mysql; MariaDB's JSON is LONGTEXT text
//	geometry             string or []byte: 4-byte little-endian SRID + WKB
//
// The snapshot converts what SELECT returns into exactly these
// representations (capture/mysql FromText), so one conversion serves both
// and a row encodes to the same bytes whichever way it was read. Any other
// Go integer type is accepted for integer columns, for callers that already
// hold the value.

// Errors returned by the Append functions of MySQL column types, wrapped by
// the caller in *ValueError. Match them with errors.Is.
var (
	// ErrMySQLUnrepresentable marks a valid MySQL value that its Avro type
	// cannot hold without loss: a date with a zero month or day, a string
	// that is not valid in its character set, an enum index beyond the
	// labels the table version declares.
	ErrMySQLUnrepresentable = errors.New("value has no lossless Avro representation")
	// ErrMySQLMalformed marks a raw value that is not what the binlog
	// decoder produces for the column's type: a bug, or a column described
	// wrongly.
	ErrMySQLMalformed = errors.New("malformed MySQL value")
)

// MySQLColumnType maps a MySQL or MariaDB column to its Avro representation.
// c.Type is the type name as information_schema.COLUMNS.DATA_TYPE spells it
// ("int", "varchar", "json", "point", ...); Unsigned, Length (bytes of a
// binary(n)), Precision and Scale (decimal; the fractional-second precision
// of temporal types), Enum (enum and set labels) and Charset complete it.
// The returned ColumnType does not retain c. On error Append returns dst
// unchanged and an error wrapping ErrMySQLUnrepresentable or
// ErrMySQLMalformed.
func MySQLColumnType(c *Column) (ColumnType, error) {
	if c == nil {
		return ColumnType{}, errors.New("mysql column type: nil column")
	}
	t, err := mysqlTypeOf(c)
	if err != nil {
		return ColumnType{}, fmt.Errorf("mysql type %q: %w", c.Type, err)
	}
	f := t.append
	return ColumnType{Avro: t.avro, Append: func(dst []byte, raw any) ([]byte, error) {
		out, err := f(dst, raw)
		if err != nil {
			return dst, err
		}
		return out, nil
	}}, nil
}

type myType struct {
	avro   any
	append func(dst []byte, raw any) ([]byte, error)
}

// mysqlIntWidth is the width in bits of the binlog image of an integer
// type: the width at which an UNSIGNED value's bits are reinterpreted.
var mysqlIntWidth = map[string]uint{"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}

func mysqlTypeOf(c *Column) (myType, error) {
	typ := strings.ToLower(c.Type)
	switch typ {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return mysqlIntType(typ, c.Unsigned), nil
	case "decimal", "numeric", "dec", "fixed":
		return mysqlDecimalType(c)
	case "float":
		return myType{avro: "float", append: mysqlAppendFloat}, nil
	case "double", "real", "double precision":
		return myType{avro: "double", append: mysqlAppendDouble}, nil
	case "bit":
		return mysqlBitType(c)
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		dec, err := mysqlCharsetDecoder(c.Charset)
		if err != nil {
			return myType{}, err
		}
		return myType{avro: "string", append: func(dst []byte, raw any) ([]byte, error) {
			b, err := mysqlBytes(raw)
			if err != nil {
				return dst, err
			}
			return dec(dst, b)
		}}, nil
	case "binary":
		n := c.Length
		return myType{avro: "bytes", append: func(dst []byte, raw any) ([]byte, error) { return mysqlAppendBinary(dst, raw, n) }}, nil
	case "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return myType{avro: "bytes", append: func(dst []byte, raw any) ([]byte, error) { return mysqlAppendBinary(dst, raw, 0) }}, nil
	case "date":
		return myType{avro: pgNamed("int", "io.debezium.time.Date"), append: mysqlAppendDate}, nil
	case "datetime":
		if mysqlFsp(c) <= 3 {
			return myType{avro: pgNamed("long", "io.debezium.time.Timestamp"),
				append: func(dst []byte, raw any) ([]byte, error) { return mysqlAppendDatetime(dst, raw, true) }}, nil
		}
		return myType{avro: pgNamed("long", "io.debezium.time.MicroTimestamp"),
			append: func(dst []byte, raw any) ([]byte, error) { return mysqlAppendDatetime(dst, raw, false) }}, nil
	case "timestamp":
		width := mysqlFsp(c)
		return myType{avro: pgNamed("string", "io.debezium.time.ZonedTimestamp"),
			append: func(dst []byte, raw any) ([]byte, error) { return mysqlAppendTimestamp(dst, raw, width) }}, nil
	case "time":
		// Never a time-micros logicalType, even with avro_logical_types:
		// MySQL times run from -838:59:59 to 838:59:59, outside the time
		// of day that logical type means.
		return myType{avro: pgNamed("long", "io.debezium.time.MicroTime"), append: mysqlAppendTime}, nil
	case "year":
		return myType{avro: pgNamed("int", "io.debezium.time.Year"), append: mysqlAppendYear}, nil
	case "enum":
		return mysqlEnumType(c.Enum), nil
	case "set":
		return mysqlSetType(c.Enum)
	case "json":
		// MySQL's JSON is binary in storage and has no charset; MariaDB's is
		// LONGTEXT (utf8mb4) and its text is kept as written.
		if c.Charset == "" {
			return myType{avro: pgNamed("string", "io.debezium.data.Json"), append: mysqlAppendBinaryJSON}, nil
		}
		// A plain string, without io.debezium.data.Json, as Debezium's
		// MariaDB connector writes it: to its JDBC driver and binlog
		// reader the column is the LONGTEXT it is stored as.
		dec, err := mysqlCharsetDecoder(c.Charset)
		if err != nil {
			return myType{}, err
		}
		return myType{avro: "string", append: func(dst []byte, raw any) ([]byte, error) {
			b, err := mysqlBytes(raw)
			if err != nil {
				return dst, err
			}
			return dec(dst, b)
		}}, nil
	case "point":
		return myType{avro: pgPointType().avro, append: mysqlAppendPoint}, nil
	case "geometry", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
		"geometrycollection", "geomcollection":
		return myType{avro: mysqlGeometryAvro(), append: mysqlAppendGeometry}, nil
	}
	return myType{}, fmt.Errorf("not a supported MySQL type (docs/TYPES.md lists the supported ones)")
}

// mysqlBytes returns a text or binary raw value's bytes without copying.
func mysqlBytes(raw any) ([]byte, error) {
	switch v := raw.(type) {
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return nil, fmt.Errorf("%w: raw value is %T, want string or []byte", ErrMySQLMalformed, raw)
}

// mysqlText returns a raw value that is text (temporal and decimal types).
func mysqlText(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("%w: raw value is %T, want a string", ErrMySQLMalformed, raw)
}

func mysqlMalformed(what string, raw any) error {
	return fmt.Errorf("%w: not a valid %s: %q", ErrMySQLMalformed, what, Printable(raw))
}

// Integers, as Debezium maps them: tinyint and smallint are int16 (Avro int
// with connect.type int16), smallint unsigned, mediumint and int are int32,
// int unsigned and bigint are int64, and bigint unsigned is a Decimal(20,0)
// (Debezium's bigint.unsigned.handling.mode=precise), so 18446744073709551615
// is exact.
func mysqlIntType(typ string, unsigned bool) myType {
	width := mysqlIntWidth[typ]
	var lo, hi int64
	if unsigned {
		lo, hi = 0, int64(uint64(1)<<min(width, 63)-1)
	} else {
		lo, hi = -1<<(width-1), 1<<(width-1)-1
	}
	if typ == "bigint" {
		lo, hi = math.MinInt64, math.MaxInt64
		if unsigned {
			lo = 0
		}
	}
	var avro any = "int"
	switch {
	case typ == "tinyint", typ == "smallint" && !unsigned:
		avro = map[string]any{"type": "int", "connect.type": "int16"}
	case typ == "bigint" && unsigned:
		avro = pgDecimalAvro(20, 0, map[string]any{"scale": "0", "connect.decimal.precision": "20"})
		return myType{avro: avro, append: func(dst []byte, raw any) ([]byte, error) {
			neg, u, err := mysqlInt(raw, width, true)
			if err != nil {
				return dst, err
			}
			if neg {
				return dst, mysqlMalformed("bigint unsigned", raw)
			}
			if u <= math.MaxInt64 {
				return pgAppendInt64Decimal(dst, int64(u)), nil
			}
			// 2^63..2^64-1: nine bytes, a leading zero keeping it positive.
			dst = AppendLong(dst, 9)
			dst = append(dst, 0)
			for i := 7; i >= 0; i-- {
				dst = append(dst, byte(u>>(8*i)))
			}
			return dst, nil
		}}
	case typ == "bigint", typ == "int" && unsigned, typ == "integer" && unsigned:
		avro = "long"
	}
	return myType{avro: avro, append: func(dst []byte, raw any) ([]byte, error) {
		neg, u, err := mysqlInt(raw, width, unsigned)
		if err != nil {
			return dst, err
		}
		var v int64
		if neg {
			if u > uint64(-(lo+1))+1 {
				return dst, mysqlMalformed(typ+" (out of range)", raw)
			}
			v = int64(-u)
		} else {
			if u > uint64(hi) {
				return dst, mysqlMalformed(typ+" (out of range)", raw)
			}
			v = int64(u)
		}
		return AppendLong(dst, v), nil
	}}
}

// mysqlInt returns the sign and magnitude of an integer raw value. For an
// unsigned column, a signed raw value holds the bits of the stored value at
// the column's binlog width and is reinterpreted as unsigned.
func mysqlInt(raw any, width uint, unsigned bool) (neg bool, mag uint64, err error) {
	var s int64
	switch v := raw.(type) {
	case int8:
		s = int64(v)
	case int16:
		s = int64(v)
	case int32:
		s = int64(v)
	case int64:
		s = v
	case int:
		s = int64(v)
	case uint8:
		return false, uint64(v), nil
	case uint16:
		return false, uint64(v), nil
	case uint32:
		return false, uint64(v), nil
	case uint64:
		return false, v, nil
	case uint:
		return false, uint64(v), nil
	default:
		return false, 0, fmt.Errorf("%w: raw value is %T, want an integer", ErrMySQLMalformed, raw)
	}
	if unsigned {
		u := uint64(s)
		if width < 64 {
			u &= 1<<width - 1
		}
		return false, u, nil
	}
	if s < 0 {
		return true, uint64(-(s + 1)) + 1, nil
	}
	return false, uint64(s), nil
}

func mysqlAppendFloat(dst []byte, raw any) ([]byte, error) {
	switch v := raw.(type) {
	case float32:
		return AppendFloat(dst, v), nil
	case float64:
		if f := float32(v); float64(f) == v || math.IsNaN(v) {
			return AppendFloat(dst, f), nil
		}
		return dst, fmt.Errorf("%w: %v is not a float (32-bit) value", ErrMySQLMalformed, v)
	}
	return dst, fmt.Errorf("%w: raw value is %T, want float32", ErrMySQLMalformed, raw)
}

func mysqlAppendDouble(dst []byte, raw any) ([]byte, error) {
	switch v := raw.(type) {
	case float64:
		return AppendDouble(dst, v), nil
	case float32:
		return AppendDouble(dst, float64(v)), nil
	}
	return dst, fmt.Errorf("%w: raw value is %T, want float64", ErrMySQLMalformed, raw)
}

// decimal(p,s) is a Connect Decimal of precision p and scale s, as Debezium
// writes it in decimal.handling.mode=precise; UNSIGNED changes nothing but
// the sign the column admits.
func mysqlDecimalType(c *Column) (myType, error) {
	p, s := c.Precision, c.Scale
	if p <= 0 || p > 65 || s < 0 || s > 30 || s > p {
		return myType{}, fmt.Errorf("decimal(%d,%d): precision must be 1..65 and scale 0..min(30, precision)", p, s)
	}
	params := map[string]any{"scale": strconv.Itoa(s), "connect.decimal.precision": strconv.Itoa(p)}
	return myType{avro: pgDecimalAvro(p, s, params), append: func(dst []byte, raw any) ([]byte, error) {
		text, err := mysqlText(raw)
		if err != nil {
			return dst, err
		}
		return mysqlAppendDecimal(dst, text, p, s)
	}}, nil
}

// mysqlAppendDecimal appends decimal text ("-12.340", "0", "5.") as the
// unscaled integer at the column's scale. Fractional digits beyond the scale
// must be zeros and integer digits must fit p-s: otherwise the schema would
// lie, and the value is refused rather than rounded.
func mysqlAppendDecimal(dst []byte, text string, precision, scale int) ([]byte, error) {
	neg, ip, fp, ok := mysqlSplitDecimal(text)
	if !ok {
		return dst, mysqlMalformed("decimal", text)
	}
	if len(fp) > scale {
		for i := scale; i < len(fp); i++ {
			if fp[i] != '0' {
				return dst, fmt.Errorf("%w: %q has more than %d fractional digits", ErrMySQLUnrepresentable, Printable(text), scale)
			}
		}
		fp = fp[:scale]
	}
	if len(ip) > precision-scale {
		return dst, fmt.Errorf("%w: %q exceeds decimal(%d,%d)", ErrMySQLUnrepresentable, Printable(text), precision, scale)
	}
	return pgAppendUnscaled(dst, neg, []byte(ip), []byte(fp), scale-len(fp)), nil
}

// mysqlSplitDecimal splits decimal text into sign, integer digits without
// leading zeros, and fractional digits. It accepts what MySQL prints ("-0.5",
// "12", "0.000") and nothing else: no exponent, no '+', no spaces.
func mysqlSplitDecimal(s string) (neg bool, ip, fp string, ok bool) {
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	ip, s = s[:i], s[i:]
	if len(ip) == 0 {
		return false, "", "", false
	}
	if len(s) > 0 {
		if s[0] != '.' || len(s) == 1 {
			return false, "", "", false
		}
		fp = s[1:]
		for j := 0; j < len(fp); j++ {
			if fp[j] < '0' || fp[j] > '9' {
				return false, "", "", false
			}
		}
	}
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	return neg, ip, fp, true
}

// bit(1) is a boolean; bit(n) is io.debezium.data.Bits with
// connect.parameters {length: "n"}: the value's bits as a little-endian
// byte array of exactly (n+7)/8 bytes (Debezium's padLittleEndian of
// BitSet.toByteArray), so b'1' in a bit(16) is 01 00.
func mysqlBitType(c *Column) (myType, error) {
	n := c.Length
	if n <= 0 {
		n = c.Precision
	}
	if n < 1 || n > 64 {
		return myType{}, fmt.Errorf("bit(%d): the length must be 1..64", n)
	}
	if n == 1 {
		return myType{avro: "boolean", append: func(dst []byte, raw any) ([]byte, error) {
			u, err := mysqlBitValue(raw, 1)
			if err != nil {
				return dst, err
			}
			return AppendBool(dst, u == 1), nil
		}}, nil
	}
	avro := pgNamed("bytes", "io.debezium.data.Bits")
	avro["connect.parameters"] = map[string]any{"length": strconv.Itoa(n)}
	nbytes := (n + 7) / 8
	return myType{avro: avro, append: func(dst []byte, raw any) ([]byte, error) {
		u, err := mysqlBitValue(raw, n)
		if err != nil {
			return dst, err
		}
		dst = AppendLong(dst, int64(nbytes))
		for i := range nbytes {
			dst = append(dst, byte(u>>(8*i)))
		}
		return dst, nil
	}}, nil
}

func mysqlBitValue(raw any, n int) (uint64, error) {
	var u uint64
	switch v := raw.(type) {
	case int64:
		u = uint64(v)
	case uint64:
		u = v
	case int:
		u = uint64(v)
	default:
		return 0, fmt.Errorf("%w: raw value is %T, want int64", ErrMySQLMalformed, raw)
	}
	if n < 64 && u>>n != 0 {
		return 0, fmt.Errorf("%w: %#x has more than %d bits", ErrMySQLMalformed, u, n)
	}
	return u, nil
}

// mysqlAppendBinary appends binary bytes; pad > 0 right-pads with 0x00 to
// that length, which binary(n) values always have (the binlog drops the
// padding, a SELECT keeps it).
func mysqlAppendBinary(dst []byte, raw any, pad int) ([]byte, error) {
	b, err := mysqlBytes(raw)
	if err != nil {
		return dst, err
	}
	if pad > 0 && len(b) > pad {
		return dst, fmt.Errorf("%w: %d bytes in a binary(%d) column", ErrMySQLMalformed, len(b), pad)
	}
	n := max(len(b), pad)
	dst = AppendLong(dst, int64(n))
	dst = append(dst, b...)
	for range n - len(b) {
		dst = append(dst, 0)
	}
	return dst, nil
}

func mysqlAppendYear(dst []byte, raw any) ([]byte, error) {
	neg, u, err := mysqlInt(raw, 64, false)
	if err != nil {
		return dst, err
	}
	if neg || u > 9999 {
		return dst, mysqlMalformed("year", raw)
	}
	return AppendLong(dst, int64(u)), nil
}

// enum is io.debezium.data.Enum with the labels as connect.parameters
// {allowed: "a,b"}. The raw value is the 1-based index; index 0 is the
// empty string MySQL stores for an invalid value in non-strict mode, and is
// written as "".
func mysqlEnumType(labels []string) myType {
	avro := pgNamed("string", "io.debezium.data.Enum")
	avro["connect.parameters"] = map[string]any{"allowed": strings.Join(labels, ",")}
	return myType{avro: avro, append: func(dst []byte, raw any) ([]byte, error) {
		neg, i, err := mysqlInt(raw, 64, false)
		if err != nil {
			return dst, err
		}
		if neg || i > uint64(len(labels)) {
			return dst, fmt.Errorf("%w: enum index %s is beyond the %d labels of this table version", ErrMySQLUnrepresentable, Printable(raw), len(labels))
		}
		if i == 0 {
			return AppendString(dst, ""), nil
		}
		return AppendString(dst, labels[i-1]), nil
	}}
}

// set is io.debezium.data.EnumSet: the labels of the set bits, in
// declaration order, joined by ','. MySQL set labels cannot contain ','.
func mysqlSetType(labels []string) (myType, error) {
	if len(labels) > 64 {
		return myType{}, fmt.Errorf("set with %d labels: MySQL allows at most 64", len(labels))
	}
	avro := pgNamed("string", "io.debezium.data.EnumSet")
	avro["connect.parameters"] = map[string]any{"allowed": strings.Join(labels, ",")}
	return myType{avro: avro, append: func(dst []byte, raw any) ([]byte, error) {
		u, err := mysqlBitValue(raw, 64)
		if err != nil {
			return dst, err
		}
		if len(labels) < 64 && u>>len(labels) != 0 {
			return dst, fmt.Errorf("%w: set value %#x has bits beyond the %d labels of this table version", ErrMySQLUnrepresentable, u, len(labels))
		}
		n := 0
		for i := range labels {
			if u&(1<<i) != 0 {
				if n > 0 {
					n++
				}
				n += len(labels[i])
			}
		}
		dst = AppendLong(dst, int64(n))
		first := true
		for i := range labels {
			if u&(1<<i) != 0 {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = append(dst, labels[i]...)
			}
		}
		return dst, nil
	}}, nil
}

// Geometry types are io.debezium.data.geometry.Geometry {wkb: bytes, srid:
// ["null", int]}: MySQL stores a geometry as its 4-byte little-endian SRID
// followed by the WKB, and Debezium splits the two.
func mysqlGeometryAvro() map[string]any {
	m := pgNamed("record", "io.debezium.data.geometry.Geometry")
	m["name"] = "Geometry"
	m["namespace"] = "io.debezium.data.geometry"
	m["doc"] = "Geometry"
	m["fields"] = []any{
		map[string]any{"name": "wkb", "type": "bytes"},
		map[string]any{"name": "srid", "type": []any{"null", "int"}, "default": nil},
	}
	return m
}

func mysqlAppendGeometry(dst []byte, raw any) ([]byte, error) {
	b, err := mysqlBytes(raw)
	if err != nil {
		return dst, err
	}
	srid, wkb, err := mysqlSplitGeometry(b)
	if err != nil {
		return dst, err
	}
	dst = AppendBytes(dst, wkb)
	return mysqlAppendSRID(dst, srid), nil
}

// mysqlAppendSRID appends the optional srid; SRID 0 (none) is null, as
// Debezium's binlog connectors write it.
func mysqlAppendSRID(dst []byte, srid uint32) []byte {
	if srid == 0 {
		return AppendNullableNull(dst)
	}
	return AppendInt(AppendNullableSome(dst), int32(srid))
}

// A POINT is io.debezium.data.geometry.Point {x, y, wkb, srid}, as
// Debezium's binlog connectors write it: the coordinates read from the
// point's WKB, the WKB as stored, and the SRID (null for 0).
func mysqlAppendPoint(dst []byte, raw any) ([]byte, error) {
	b, err := mysqlBytes(raw)
	if err != nil {
		return dst, err
	}
	srid, wkb, err := mysqlSplitGeometry(b)
	if err != nil {
		return dst, err
	}
	var order binary.ByteOrder = binary.LittleEndian
	if wkb[0] == 0 {
		order = binary.BigEndian
	}
	if len(wkb) != 21 || order.Uint32(wkb[1:5]) != 1 {
		return dst, fmt.Errorf("%w: a POINT's WKB is not one point (21 bytes, type 1): % x", ErrMySQLMalformed, wkb[:min(len(wkb), 9)])
	}
	dst = AppendDouble(dst, math.Float64frombits(order.Uint64(wkb[5:13])))
	dst = AppendDouble(dst, math.Float64frombits(order.Uint64(wkb[13:21])))
	dst = AppendBytes(AppendNullableSome(dst), wkb)
	return mysqlAppendSRID(dst, srid), nil
}

// mysqlSplitGeometry splits MySQL's internal geometry format into SRID and
// WKB. It checks the WKB header (byte order 0 or 1, then a 4-byte type) but
// not the body, which is passed on as is. SRIDs above 2^31-1 do not fit the
// Avro int Debezium declares and are refused.
func mysqlSplitGeometry(b []byte) (srid uint32, wkb []byte, err error) {
	if len(b) < 4+5 {
		return 0, nil, fmt.Errorf("%w: geometry of %d bytes is shorter than an SRID and a WKB header", ErrMySQLMalformed, len(b))
	}
	srid = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	wkb = b[4:]
	if wkb[0] > 1 {
		return 0, nil, fmt.Errorf("%w: WKB byte order %d is neither 0 nor 1", ErrMySQLMalformed, wkb[0])
	}
	if srid > math.MaxInt32 {
		return 0, nil, fmt.Errorf("%w: SRID %d does not fit a 32-bit signed int", ErrMySQLUnrepresentable, srid)
	}
	return srid, wkb, nil
}
