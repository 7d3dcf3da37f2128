package changes

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Op is the kind of row change, the envelope's op field.
type Op byte

// The operations of the Debezium envelope.
const (
	Create   Op = 'c'
	Update   Op = 'u'
	Delete   Op = 'd'
	Read     Op = 'r' // a row read by a snapshot
	Truncate Op = 't'
)

// String returns the op as it is written in the envelope ("c", "u", ...).
func (o Op) String() string {
	if o == 0 {
		return ""
	}
	return string(rune(o))
}

// Kind says what a record holds.
type Kind uint8

const (
	// KindChange is a change event in the Debezium envelope.
	KindChange Kind = iota
	// KindTombstone is a record with a null value: Sluice writes one after
	// each delete, with the deleted row's key, for log compaction. A
	// service has nothing to do for it (the delete came just before) but
	// sees it so that every offset passes through the handler.
	KindTombstone
	// KindOther is any other value, in Event.Value: the schema-change
	// events of the topic named after the instance, transaction metadata,
	// and the events of the outbox router (whose value is the outbox row's
	// payload, with the event id and type in headers).
	KindOther
)

// String returns "change", "tombstone" or "other".
func (k Kind) String() string {
	switch k {
	case KindChange:
		return "change"
	case KindTombstone:
		return "tombstone"
	default:
		return "other"
	}
}

// Event is one decoded record. The package doc lists the Go types of the
// values in Key, Before, After and Value. An Event and its maps belong to
// the handler: the consumer does not reuse them.
type Event struct {
	Kind Kind

	// Op is the change's operation; 0 unless Kind is KindChange.
	Op Op
	// Key is the decoded record key when it is an Avro record: the
	// primary-key columns of a change. Nil for a table without a primary
	// key (a null Kafka key), and for a key of another type.
	Key map[string]any
	// KeyValue is the decoded record key when it is not an Avro record:
	// the aggregate id of an outbox event. Nil otherwise.
	KeyValue any
	// Before is the row before the change: set for updates and deletes
	// (under Postgres' default replica identity a delete's before image
	// holds only the key columns, the others are nil). Nil otherwise.
	Before map[string]any
	// After is the row after the change: set for creates, updates and
	// snapshot reads. Nil otherwise.
	After map[string]any
	// Source is the envelope's source block: where in the source the
	// change was read.
	Source Source
	// Transaction is the envelope's transaction block, nil when the record
	// has none.
	Transaction *Transaction
	// TsMs is the envelope's ts_ms: when Sluice processed the change, in
	// milliseconds since the epoch (0 if absent). Source.TsMs is when the
	// source committed it.
	TsMs int64
	// TsUs and TsNs are the envelope's ts_us and ts_ns (Debezium 3.x), 0
	// when the record has none.
	TsUs, TsNs int64

	// Value is the decoded value of a KindOther record: a map[string]any
	// for an Avro record (a schema-change event), otherwise the value's
	// Go type as listed in the package doc (an outbox event's JSON payload
	// is a json.RawMessage). Nil for changes and tombstones.
	Value any

	// KeySchemaID and ValueSchemaID are the registry ids the record was
	// written with (0 for a null key or value). A new id on a topic means
	// a new table version.
	KeySchemaID, ValueSchemaID int

	// Record is the Kafka record the event was decoded from.
	Record *kgo.Record
}

// Header returns the value of the record's last header named key (the
// outbox router writes the event's "id" and "type" as headers), and
// whether there is one.
func (e *Event) Header(key string) (string, bool) {
	if e.Record == nil {
		return "", false
	}
	for i := len(e.Record.Headers) - 1; i >= 0; i-- {
		if h := e.Record.Headers[i]; h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// Image returns the row a service usually wants: After, or Before for a
// delete. Nil for tombstones, truncates and other records.
func (e *Event) Image() map[string]any {
	if e.After != nil {
		return e.After
	}
	if e.Op == Delete {
		return e.Before
	}
	return nil
}

// Source is the envelope's source block, as Debezium names its fields. A
// field the source kind does not have is zero.
type Source struct {
	Version   string // Sluice's version, "sluice-x.y.z"
	Connector string // "postgresql", "mysql" or "mariadb"
	Name      string // the Sluice instance name (topic prefix)
	TsMs      int64  // when the source committed the change, ms since the epoch
	// Snapshot is "false" for streamed changes, and "true", "first",
	// "last", ... for snapshot reads.
	Snapshot string
	DB       string
	Schema   string // Postgres schema
	Table    string
	Sequence string
	// TsUs and TsNs are ts_us and ts_ns (Debezium 3.x), 0 when absent.
	TsUs, TsNs int64

	// Postgres
	TxID int64 // 0: absent
	LSN  int64 // the change's WAL position; 0 for snapshot reads
	Xmin int64

	// MySQL and MariaDB
	ServerID int64
	GTID     string
	File     string // binlog file
	Pos      int64  // binlog position of the rows event
	Row      int32  // row within the event
	Thread   int64
	Query    string

	// Fields is the whole source block, including fields not listed above.
	Fields map[string]any
}

// Time returns Source.TsMs as a time.Time.
func (s *Source) Time() time.Time { return time.UnixMilli(s.TsMs).UTC() }

// IsSnapshot reports whether the change is a snapshot read.
func (s *Source) IsSnapshot() bool { return s.Snapshot != "" && s.Snapshot != "false" }

// Transaction is the envelope's transaction block (Debezium's
// provide.transaction.metadata).
type Transaction struct {
	ID                  string
	TotalOrder          int64 // the event's position among all events of the transaction
	DataCollectionOrder int64 // the event's position among the transaction's events of its table
}
