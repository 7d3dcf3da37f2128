package schema

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Postgres type mapping. docs/TYPES.md is its user-facing description;
// keep the two in step.
//
// Every conversion reads the text output of the type, which is what pgoutput
// sends and what a simple-protocol SELECT returns, so a row converts to the
// same bytes in the snapshot and in the stream. The text depends on session
// settings; the capture and snapshot connections set DateStyle=ISO,
// IntervalStyle=iso_8601, TimeZone=UTC, extra_float_digits=3,
// bytea_output=hex, lc_monetary=C and client_encoding=UTF8. Text that does
// not match those settings is rejected (ErrPostgresMalformed) rather than
// guessed at.

// Errors returned by the Append functions of Postgres column types. The
// caller wraps them in *ValueError naming the table, column and value; match
// them with errors.Is.
var (
	// ErrPostgresUnrepresentable marks a valid Postgres value that its Avro
	// type cannot hold without loss: numeric NaN or ±Infinity in a decimal,
	// a multi-dimensional array, a string that is not UTF-8, a timestamp
	// beyond the range of a long. The pipeline stops rather than coerce it.
	ErrPostgresUnrepresentable = errors.New("value has no lossless Avro representation")
	// ErrPostgresMalformed marks text that is not what the type's output
	// function produces under the session settings above: a bug, a wrong
	// setting on the connection, or a type the caller described wrongly.
	ErrPostgresMalformed = errors.New("malformed Postgres text value")
)

// PostgresColumnType maps a Postgres column to its Avro representation.
// Raw values handed to Append are the text-format output of the type
// ([]byte, never nil: NULL is handled by the caller), exactly as pgoutput
// sends them and as a simple-protocol SELECT returns them, so snapshot and
// streaming share one conversion. A string is accepted too (at the cost of a
// copy). On error Append returns dst unchanged and an error wrapping
// ErrPostgresUnrepresentable or ErrPostgresMalformed.
//
// c.Type is the typname; domains must already be resolved to their base
// type. An array is a column with Elem set or, when the caller gave no OID
// (and so no catalog facts), a typname starting with '_'. The array
// column's TypeMod applies to its elements, as in pg_attribute. The
// returned ColumnType does not retain c.
func PostgresColumnType(c *Column) (ColumnType, error) {
	if c == nil {
		return ColumnType{}, errors.New("postgres column type: nil column")
	}
	t, err := pgTypeOf(c)
	if err != nil {
		return ColumnType{}, fmt.Errorf("postgres type %q: %w", c.Type, err)
	}
	return t.columnType(), nil
}

// pgType is a Postgres type mapping with a typed append function, so that
// array elements are converted without boxing each element in an interface.
type pgType struct {
	avro        any
	append      func(dst, text []byte) ([]byte, error)
	unavailable func(dst []byte) []byte
}

func (t pgType) columnType() ColumnType {
	f := t.append
	return ColumnType{
		Avro: t.avro,
		Append: func(dst []byte, raw any) ([]byte, error) {
			var text []byte
			switch v := raw.(type) {
			case []byte:
				text = v
			case *[]byte: // the snapshot's allocation-free form
				text = *v
			case string:
				text = []byte(v)
			default:
				return dst, fmt.Errorf("%w: raw value is %T, want the text format as []byte", ErrPostgresMalformed, raw)
			}
			out, err := f(dst, text)
			if err != nil {
				return dst, err
			}
			return out, nil
		},
		Unavailable: t.unavailable,
	}
}

func pgTypeOf(c *Column) (pgType, error) {
	switch c.Kind {
	case "e":
		return pgEnumType(c.Enum), nil
	case "c", "r", "m", "p":
		// Composite, range, multirange and pseudo types keep their text.
		return pgTextType(nil, true), nil
	}
	if c.Elem != nil || (c.OID == 0 && len(c.Type) > 1 && c.Type[0] == '_') {
		return pgArrayTypeOf(c)
	}
	switch c.Type {
	case "int2":
		return pgType{avro: map[string]any{"type": "int", "connect.type": "int16"}, append: pgAppendInt2}, nil
	case "int4":
		return pgType{avro: "int", append: pgAppendInt4}, nil
	case "int8":
		return pgType{avro: "long", append: pgAppendInt8}, nil
	case "oid":
		return pgType{avro: "long", append: pgAppendOID}, nil
	case "float4":
		return pgType{avro: "float", append: pgAppendFloat4}, nil
	case "float8":
		return pgType{avro: "double", append: pgAppendFloat8}, nil
	case "bool":
		return pgType{avro: "boolean", append: pgAppendBool}, nil
	case "numeric":
		return pgNumericType(c), nil
	case "money":
		return pgMoneyType(), nil
	case "text", "varchar", "bpchar", "name", "char", "citext":
		return pgTextType(nil, true), nil
	case "xml":
		return pgTextType(pgNamed("string", "io.debezium.data.Xml"), true), nil
	case "json", "jsonb":
		return pgTextType(pgNamed("string", "io.debezium.data.Json"), true), nil
	case "inet", "cidr", "macaddr", "macaddr8":
		// Fixed-size or tiny values: never TOASTed, so no placeholder.
		return pgTextType(nil, false), nil
	case "uuid":
		return pgType{avro: pgNamed("string", "io.debezium.data.Uuid"), append: pgAppendUUID}, nil
	case "bytea":
		return pgType{avro: "bytes", append: pgAppendBytea, unavailable: pgAppendUnavailableBytes}, nil
	case "bit":
		return pgBitType(c), nil
	case "varbit":
		return pgVarbitType(), nil
	case "date":
		return pgDateType(), nil
	case "time":
		return pgTimeType(c), nil
	case "timetz":
		return pgTimetzType(), nil
	case "timestamp":
		return pgTimestampType(c), nil
	case "timestamptz":
		return pgTimestamptzType(c), nil
	case "interval":
		return pgIntervalType(), nil
	case "point":
		return pgPointType(), nil
	case "hstore":
		return pgHstoreType(), nil
	case "ltree":
		return pgTextType(pgNamed("string", "io.debezium.data.Ltree"), true), nil
	case "tsvector":
		return pgTextType(pgNamed("string", "io.debezium.data.Tsvector"), true), nil
	}
	// Anything else keeps its text: the lossless fallback, documented in
	// docs/TYPES.md. Unknown types may be varlena and TOASTed.
	return pgTextType(nil, true), nil
}

// pgNamed returns a Debezium/Kafka Connect named schema: every Debezium
// semantic type has version 1, which Confluent's AvroConverter emits as
// connect.version.
func pgNamed(physical, connectName string) map[string]any {
	return map[string]any{"type": physical, "connect.name": connectName, "connect.version": 1}
}

// pgTextType maps a type whose Avro value is its text. avro nil means a
// plain "string". placeholder is false for types that are never TOASTed,
// whose placeholder would only make the schema lie.
func pgTextType(avro any, placeholder bool) pgType {
	if avro == nil {
		avro = "string"
	}
	t := pgType{avro: avro, append: pgAppendText}
	if placeholder {
		t.unavailable = pgAppendUnavailableString
	}
	return t
}

func pgAppendUnavailableString(dst []byte) []byte { return AppendString(dst, UnavailableValue) }

func pgAppendUnavailableBytes(dst []byte) []byte {
	dst = AppendLong(dst, int64(len(UnavailableValue)))
	return append(dst, UnavailableValue...)
}

// pgAppendText appends text as an Avro string. Avro strings are UTF-8; a
// SQL_ASCII database can hold any bytes, and those cannot be carried.
func pgAppendText(dst, text []byte) ([]byte, error) {
	if !utf8.Valid(text) {
		return dst, fmt.Errorf("%w: text is not valid UTF-8", ErrPostgresUnrepresentable)
	}
	dst = AppendLong(dst, int64(len(text)))
	return append(dst, text...), nil
}

func pgEnumType(labels []string) pgType {
	allowed := make(map[string]struct{}, len(labels))
	for _, l := range labels {
		allowed[l] = struct{}{}
	}
	avro := pgNamed("string", "io.debezium.data.Enum")
	avro["connect.parameters"] = map[string]any{"allowed": strings.Join(labels, ",")}
	return pgType{avro: avro, append: func(dst, text []byte) ([]byte, error) {
		if _, ok := allowed[string(text)]; !ok {
			// The enum gained a label after this schema version was built,
			// or the caller passed the wrong labels: either way the schema's
			// allowed list would be a lie.
			return dst, fmt.Errorf("%w: %q is not a label of the enum (allowed: %s)", ErrPostgresUnrepresentable, text, strings.Join(labels, ","))
		}
		dst = AppendLong(dst, int64(len(text)))
		return append(dst, text...), nil
	}}
}

func pgAppendInt2(dst, text []byte) ([]byte, error) {
	v, err := pgParseInt(text, math.MinInt16, math.MaxInt16)
	if err != nil {
		return dst, err
	}
	return AppendLong(dst, v), nil
}

func pgAppendInt4(dst, text []byte) ([]byte, error) {
	v, err := pgParseInt(text, math.MinInt32, math.MaxInt32)
	if err != nil {
		return dst, err
	}
	return AppendLong(dst, v), nil
}

func pgAppendInt8(dst, text []byte) ([]byte, error) {
	v, err := pgParseInt(text, math.MinInt64, math.MaxInt64)
	if err != nil {
		return dst, err
	}
	return AppendLong(dst, v), nil
}

func pgAppendOID(dst, text []byte) ([]byte, error) {
	v, err := pgParseInt(text, 0, math.MaxUint32)
	if err != nil {
		return dst, err
	}
	return AppendLong(dst, v), nil
}

// pgParseInt parses a decimal integer in [lo, hi] without allocating.
func pgParseInt(text []byte, lo, hi int64) (int64, error) {
	s := text
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return 0, pgMalformed("integer", text)
	}
	var u uint64
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0, pgMalformed("integer", text)
		}
		u = u*10 + uint64(ch-'0') // 19 digits cannot overflow a uint64
	}
	if neg {
		var lim uint64 // magnitude of lo
		if lo < 0 {
			lim = uint64(-(lo + 1)) + 1
		}
		if u > lim {
			return 0, pgMalformed("integer out of range", text)
		}
		return int64(-u), nil
	}
	if u > uint64(hi) {
		return 0, pgMalformed("integer out of range", text)
	}
	return int64(u), nil
}

// pgMalformed is the error for text that does not parse as what.
func pgMalformed(what string, text []byte) error {
	return fmt.Errorf("%w: not a valid %s: %q", ErrPostgresMalformed, what, Printable(text))
}

func pgAppendFloat4(dst, text []byte) ([]byte, error) {
	v, err := pgParseFloat(text, 32)
	if err != nil {
		return dst, err
	}
	return AppendFloat(dst, float32(v)), nil
}

func pgAppendFloat8(dst, text []byte) ([]byte, error) {
	v, err := pgParseFloat(text, 64)
	if err != nil {
		return dst, err
	}
	return AppendDouble(dst, v), nil
}

// pgParseFloat parses float4/float8 output. With extra_float_digits > 0
// Postgres prints the shortest text that reads back exactly, so parsing is
// lossless. Go's ParseFloat also accepts hex floats, underscores and "inf",
// none of which Postgres prints, so the alphabet is checked first.
func pgParseFloat(text []byte, bits int) (float64, error) {
	switch string(text) {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	if len(text) == 0 {
		return 0, pgMalformed("float", text)
	}
	for _, ch := range text {
		if (ch < '0' || ch > '9') && ch != '.' && ch != 'e' && ch != 'E' && ch != '+' && ch != '-' {
			return 0, pgMalformed("float", text)
		}
	}
	v, err := strconv.ParseFloat(string(text), bits)
	if err != nil {
		return 0, fmt.Errorf("%w: not a valid float: %q", ErrPostgresMalformed, Printable(text))
	}
	return v, nil
}

func pgAppendBool(dst, text []byte) ([]byte, error) {
	if len(text) == 1 {
		switch text[0] {
		case 't':
			return AppendBool(dst, true), nil
		case 'f':
			return AppendBool(dst, false), nil
		}
	}
	return dst, pgMalformed("boolean", text)
}

// pgAppendUUID checks the canonical 8-4-4-4-12 form, so that the uuid
// logicalType (schema_registry.avro_logical_types) never carries anything
// else.
func pgAppendUUID(dst, text []byte) ([]byte, error) {
	if len(text) != 36 {
		return dst, pgMalformed("uuid", text)
	}
	for i, ch := range text {
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return dst, pgMalformed("uuid", text)
			}
		default:
			if pgHexVal(ch) < 0 {
				return dst, pgMalformed("uuid", text)
			}
		}
	}
	dst = AppendLong(dst, 36)
	return append(dst, text...), nil
}

// pgAppendBytea decodes bytea_output=hex ("\x0a0b") straight into dst. The
// escape format is ambiguous to parse back and is rejected.
func pgAppendBytea(dst, text []byte) ([]byte, error) {
	if len(text) < 2 || text[0] != '\\' || text[1] != 'x' {
		return dst, fmt.Errorf("%w: bytea is not in hex format (set bytea_output=hex): %q", ErrPostgresMalformed, Printable(text))
	}
	hex := text[2:]
	if len(hex)%2 != 0 {
		return dst, pgMalformed("hex bytea", text)
	}
	dst = AppendLong(dst, int64(len(hex)/2))
	for i := 0; i < len(hex); i += 2 {
		hi, lo := pgHexVal(hex[i]), pgHexVal(hex[i+1])
		if hi < 0 || lo < 0 {
			return dst, pgMalformed("hex bytea", text)
		}
		dst = append(dst, byte(hi<<4|lo))
	}
	return dst, nil
}

func pgHexVal(ch byte) int {
	switch {
	case ch >= '0' && ch <= '9':
		return int(ch - '0')
	case ch >= 'a' && ch <= 'f':
		return int(ch-'a') + 10
	case ch >= 'A' && ch <= 'F':
		return int(ch-'A') + 10
	}
	return -1
}
