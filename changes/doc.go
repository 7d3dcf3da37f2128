// Package changes lets a Go service consume the change topics Sluice
// writes: it subscribes in a consumer group with read_committed isolation,
// decodes keys and values through a Confluent-compatible schema registry,
// and hands the service one typed [Event] per record, in partition order.
//
// The package is named for what a service receives from it, changes to
// rows, so that code reads as changes.Event, changes.Create,
// changes.NewConsumer; "cdc" names the technique, not the value a handler
// works with.
//
// # Consuming
//
// A [Consumer] processes at least once: the offset of a record is
// committed only after the [Handler] returned nil for it and for every
// record before it in its partition. A crash or a rebalance redelivers
// records whose offsets were not committed, so a handler must be
// idempotent (an upsert keyed by the record key is). Run returns at the
// first handler error, after committing what was handled before it.
//
// A [TransactConsumer] consumes, transforms and produces exactly once:
// the records a handler produces through its [Output] and the consumed
// offsets are committed in one Kafka transaction (franz-go's
// GroupTransactSession). A read_committed consumer of the output sees each
// result exactly once, across crashes and rebalances.
//
// # Events
//
// Every record decodes to an [Event]. Its [Kind] says what it is:
//
//   - [KindChange]: a Debezium envelope. [Event.Op] is one of [Create],
//     [Update], [Delete], [Read] (a snapshot row) and [Truncate];
//     [Event.Before] and [Event.After] are the row images (nil when
//     absent), [Event.Source] the source position, [Event.Transaction] the
//     transaction block when Sluice writes one.
//   - [KindTombstone]: a null value: the one Sluice writes after a
//     delete, with the deleted row's key, so that log compaction can drop
//     the key (and an outbox event whose payload is NULL, with its
//     headers).
//   - [KindOther]: any other value, in [Event.Value]: the schema-change
//     events of topic <name>, transaction metadata of <name>.transaction,
//     and the events of Sluice's outbox router (topics
//     outbox.event.<aggregatetype>), whose value is the outbox row's
//     payload (a json.RawMessage for a json or jsonb column, or a record
//     when columns are placed in the envelope), whose key, the aggregate
//     id, is in [Event.KeyValue], and whose event id and type are the
//     headers "id" and "type" ([Event.Header]); docs/transforms.md
//     describes these records.
//
// # Go types of column values
//
// Row images and keys are map[string]any keyed by Avro field name (the
// column name, with characters outside [A-Za-z0-9_] replaced by '_').
// Values are converted by their Debezium semantic type, the connect.name
// of the column's schema, never by an Avro logicalType, so schemas with
// and without logicalTypes decode to the same Go values:
//
//	Avro type / connect.name                        Go type
//	null (a NULL column)                            nil
//	boolean                                         bool
//	int with connect.type int8 / int16              int8 / int16
//	int (including io.debezium.time.Year)           int32
//	long                                            int64
//	float / double                                  float32 / float64
//	string (text, Enum, EnumSet, Xml, Uuid,         string
//	  Interval, ZonedTime, any other string)
//	bytes (including io.debezium.data.Bits)         []byte
//	org.apache.kafka.connect.data.Decimal           *big.Rat
//	io.debezium.data.VariableScaleDecimal           *big.Rat
//	io.debezium.data.Json                           json.RawMessage
//	io.debezium.time.Date                           time.Time (midnight UTC)
//	io.debezium.time.Timestamp, MicroTimestamp,     time.Time (the wall clock,
//	  NanoTimestamp                                   in UTC)
//	io.debezium.time.ZonedTimestamp                 time.Time (UTC)
//	io.debezium.time.Time, MicroTime, NanoTime,     time.Duration (since
//	  MicroDuration                                   midnight; a duration)
//	io.debezium.data.geometry.Point                 Point
//	io.debezium.data.geometry.Geometry              Geometry
//	array                                           []any of the above
//	any other record                                map[string]any
//
// Two special values replace the ordinary Go type of a column:
//
//   - [Infinity] ([PositiveInfinity], [NegativeInfinity]) for the dates and
//     timestamps Sluice writes as sentinels (docs/TYPES.md): Postgres'
//     infinity and -infinity, and MySQL's zero date and zero DATETIME,
//     which are written as the lowest value ([NegativeInfinity]).
//   - [Unavailable] for Debezium's __debezium_unavailable_value placeholder:
//     an unchanged TOASTed Postgres value that the source did not send.
//     Keep the value you had.
//
// # Decoding into structs
//
// [Event.DecodeAfter], [Event.DecodeBefore] and [Event.DecodeKey] (and
// [DecodeInto] for any image) fill a struct from a row image by field tag
// `change:"column"`, or else by field name, matched ignoring case and
// underscores (CustomerID matches customer_id); `change:"-"` skips a field.
// The conversions are listed at [DecodeInto].
//
// # Schema changes
//
// A new table version gets a new schema id; the [Decoder] fetches each id
// once from the registry and caches it, so records of old and new
// versions decode side by side, each with its own schema. [Event.ValueSchemaID]
// tells a service which version a record was written with.
//
// # Testing a service
//
// A [Handler] takes a plain [Event], so a service's handler is unit-tested
// by building Events by hand, with no Kafka and no registry. The [Decoder]
// decodes a *kgo.Record on its own, given anything with SchemaByID (such as
// franz-go's sr.Client, or its in-process srfake registry).
package changes
