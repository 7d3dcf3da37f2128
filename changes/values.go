package changes

// Infinity is a date or timestamp no real instant has: the sentinels of
// docs/TYPES.md. It stands in the image where the column's time.Time
// would be.
type Infinity int8

const (
	// PositiveInfinity is Postgres' infinity: a Date of 2147483647 days, a
	// Timestamp or MicroTimestamp of 9223372036854775807, a ZonedTimestamp
	// "infinity".
	PositiveInfinity Infinity = 1
	// NegativeInfinity is Postgres' -infinity, and MySQL's and MariaDB's
	// zero date '0000-00-00' and zero DATETIME: a Date of -2147483648 days,
	// a Timestamp or MicroTimestamp of -9223372036854775808, a
	// ZonedTimestamp "-infinity". (MySQL's zero TIMESTAMP is written as
	// 1970-01-01T00:00:00Z, a time.Time at the epoch, which no real
	// TIMESTAMP has.) Event.Source.Connector tells the sources apart.
	NegativeInfinity Infinity = -1
)

// String returns "infinity" or "-infinity".
func (i Infinity) String() string {
	if i < 0 {
		return "-infinity"
	}
	return "infinity"
}

// unavailable is the type of Unavailable.
type unavailable struct{}

func (unavailable) String() string { return placeholder }

// Unavailable stands in an image for a value the source did not send: an
// unchanged TOASTed Postgres value, which Sluice, as Debezium, writes as
// the placeholder __debezium_unavailable_value. The column kept the value
// it had. DecodeInto leaves the struct field as it was.
var Unavailable any = unavailable{}

// placeholder is Debezium's unavailable.value.placeholder.
const placeholder = "__debezium_unavailable_value"

// Point is an io.debezium.data.geometry.Point (a Postgres point).
type Point struct {
	X, Y float64
	WKB  []byte // the point's well-known binary, may be nil
	SRID *int32 // nil when absent
}

// Geometry is an io.debezium.data.geometry.Geometry (a MySQL spatial
// value): its well-known binary and spatial reference id.
type Geometry struct {
	WKB  []byte
	SRID *int32 // nil when absent
}
