package schema

import (
	"fmt"
	"unicode/utf8"
)

// ColumnType is how the values of one column are represented in Avro. A
// mapping is chosen once per table version; Append runs once per value.
type ColumnType struct {
	// Avro is the Avro schema of a non-NULL value: a primitive type name
	// ("long") or a JSON object carrying "connect.name", "logicalType" and
	// friends. Nullability (["null", T]) is added by the envelope builder.
	Avro any
	// Append appends the Avro binary encoding of one non-NULL raw source
	// value. Raw values are what the capture package hands over: for
	// Postgres the text-format bytes of the value ([]byte, or *[]byte from
	// the snapshot, which avoids an allocation per value); for MySQL the
	// value decoded from the binlog row image.
	Append func(dst []byte, raw any) ([]byte, error)
	// Unavailable appends the placeholder for a value the source did not
	// send (an unchanged TOASTed Postgres value). Nil when the type has no
	// representable placeholder; such a value then stops the pipeline.
	Unavailable func(dst []byte) []byte
}

// UnavailableValue is Debezium's placeholder for an unchanged TOASTed value
// (unavailable.value.placeholder).
const UnavailableValue = "__debezium_unavailable_value"

// ValueError reports a source value that cannot be represented in its
// column's Avro type. It stops the pipeline before the checkpoint passes
// the event: values are never dropped or coerced silently.
type ValueError struct {
	Table  TableID
	Column string
	Type   string
	Value  string // a printable prefix of the raw value
	Err    error
}

func (e *ValueError) Error() string {
	t := e.Table.String()
	if t == "." {
		t = "?"
	}
	return fmt.Sprintf("column %s.%s (%s): value %q cannot be represented: %v", t, e.Column, e.Type, e.Value, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }

// Printable returns a short printable prefix of a raw value for errors.
func Printable(raw any) string {
	var s string
	switch v := raw.(type) {
	case []byte:
		s = string(v)
	case *[]byte:
		s = string(*v)
	case string:
		s = v
	default:
		s = fmt.Sprint(v)
	}
	const max = 64
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}
