// Package config defines Sluice's configuration, loads it from a YAML file
// and the environment (see Load), and validates it.
//
// The doc comment of every field states its meaning and default; they are the
// source of docs/configuration.md, and a test keeps the two key sets equal.
// Fields tagged `sluice:"secret"` are never printed: not by Redacted, String,
// GoString or LogValue, and not in any *Error.
package config

import (
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Source types (Source.Type).
const (
	SourcePostgres = "postgres"
	SourceMySQL    = "mysql"
)

// Snapshot modes (Snapshot.Mode).
const (
	// SnapshotInitial snapshots every captured table that has no completed
	// snapshot in the checkpoint, then streams.
	SnapshotInitial = "initial"
	// SnapshotNever never snapshots; streaming starts at the source's
	// current position.
	SnapshotNever = "never"
	// SnapshotInitialOnly snapshots like SnapshotInitial, then exits
	// without streaming.
	SnapshotInitialOnly = "initial_only"
)

// Config is the whole configuration of one Sluice instance (one source
// database). Load returns it with defaults applied, secret files read and
// every value validated.
type Config struct {
	// Name identifies the instance. Required; letters, digits, '_', '.' and
	// '-' only. It is the topic prefix (<name>.<schema>.<table>), the
	// suffix of the default Postgres slot and publication names, and part
	// of the Kafka transactional.id sluice-<name>. Changing it starts a new
	// instance from scratch.
	Name string `mapstructure:"name"`

	// Log configures the process log.
	Log Log `mapstructure:"log"`

	// Source is the database to capture.
	Source Source `mapstructure:"source"`

	// Snapshot configures the initial and on-demand snapshots.
	Snapshot Snapshot `mapstructure:"snapshot"`

	// Kafka is where the change events go.
	Kafka Kafka `mapstructure:"kafka"`

	// Transforms are applied to the change events, as Debezium's single
	// message transforms (outbox, unwrap, mask; docs/transforms.md).
	// Default empty.
	Transforms []Transform `mapstructure:"transforms"`

	// SchemaRegistry is the Confluent-compatible Schema Registry the Avro
	// schemas are registered with.
	SchemaRegistry SchemaRegistry `mapstructure:"schema_registry"`

	// HTTP configures the /metrics, /healthz and /readyz endpoints.
	HTTP HTTP `mapstructure:"http"`

	// Checkpoint configures how often the source position is committed.
	Checkpoint Checkpoint `mapstructure:"checkpoint"`
}

// Log configures the process log.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error.
	// Default info.
	Level string `mapstructure:"level"`
	// Format is text (logfmt-like, for humans) or json. Default text.
	Format string `mapstructure:"format"`
}

// Source is the database to capture.
type Source struct {
	// Type is the database kind: postgres or mysql (MySQL 8.0+ and
	// MariaDB 10.5+). Required.
	Type string `mapstructure:"type"`
	// DSN is the connection string, e.g.
	// postgres://user:pass@host:5432/db or mysql://user:pass@host:3306/
	// (the go-sql-driver form user:pass@tcp(host:3306)/ works too).
	// Secret: never printed. Exactly one of dsn and dsn_file is required.
	DSN string `mapstructure:"dsn" sluice:"secret"`
	// DSNFile is a file holding the DSN (surrounding whitespace is
	// trimmed), e.g. a mounted Kubernetes secret. Load reads it into DSN.
	// Default empty.
	DSNFile string `mapstructure:"dsn_file"`
	// Tables is the include list of "<schema>.<table>" (Postgres) or
	// "<database>.<table>" (MySQL) patterns with path.Match glob syntax,
	// case-sensitive, e.g. public.orders or sales.*. Default empty: every
	// user table.
	Tables []string `mapstructure:"tables"`
	// ExcludeTables lists "<schema>.<table>" patterns (same syntax as
	// Tables) removed from the captured set. Default empty.
	ExcludeTables []string `mapstructure:"exclude_tables"`
	// ExcludeColumns lists "<schema>.<table>.<column>" columns that are
	// never read or emitted, e.g. public.customers.ssn. Default empty.
	ExcludeColumns []string `mapstructure:"exclude_columns"`
	// SkippedOperations lists the operations whose change events are not
	// emitted, as Debezium's skipped.operations: c (create), u (update),
	// d (delete), t (truncate), or the single value none. Default [t]:
	// truncate events are skipped unless removed from the list; [] or
	// [none] emits every operation. Snapshot reads (r) are never skipped.
	SkippedOperations []string `mapstructure:"skipped_operations"`
	// Postgres holds the settings used when Type is postgres.
	Postgres PostgresSource `mapstructure:"postgres"`
	// MySQL holds the settings used when Type is mysql.
	MySQL MySQLSource `mapstructure:"mysql"`
	// TLS configures TLS for the database connection. Optional: for
	// Postgres the DSN's own sslmode parameters work too.
	TLS TLS `mapstructure:"tls"`
}

// PostgresSource holds the Postgres-only source settings.
type PostgresSource struct {
	// Slot is the logical replication slot (created when missing).
	// Default sluice_<name>, with name lower-cased and every character
	// outside [a-z0-9_] replaced by '_'. At most 63 characters of
	// [a-z0-9_].
	Slot string `mapstructure:"slot"`
	// Publication is the publication the slot decodes (created when
	// missing). Default sluice_<name>, derived like Slot. At most 63
	// characters.
	Publication string `mapstructure:"publication"`
	// HeartbeatInterval is how often, while no captured table changes,
	// Sluice lets the slot advance so that WAL does not pile up. Default
	// 10s; 0 disables heartbeats.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`
	// StatusInterval is how often a standby status update (the flushed
	// LSN) is sent to the server. Default 10s; must be positive.
	StatusInterval time.Duration `mapstructure:"status_interval"`
}

// MySQLSource holds the MySQL-only source settings.
type MySQLSource struct {
	// ServerID is the replica server_id Sluice uses on the binlog
	// connection: 1..4294967295, unique among the server's replicas.
	// Required for mysql; no default.
	ServerID uint32 `mapstructure:"server_id"`
	// HeartbeatInterval is the binlog heartbeat period the server is asked
	// for, which bounds how long a dead connection goes unnoticed. Default
	// 10s; 0 disables heartbeats.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`
	// SignalTable is the table, "<database>.<table>", through which
	// snapshot watermarks and `sluice snapshot` requests reach the
	// binlog. Sluice creates it when missing and never captures it.
	// Default sluice.sluice_signal.
	SignalTable string `mapstructure:"signal_table"`
}

// Snapshot configures the initial and on-demand snapshots.
type Snapshot struct {
	// Mode is initial (snapshot tables that have no completed snapshot,
	// then stream), never (stream only) or initial_only (snapshot, then
	// exit). Default initial.
	Mode string `mapstructure:"mode"`
	// ChunkSize is how many rows one snapshot chunk reads, 1..1000000:
	// the unit of a snapshot's reads, transactions and resumption.
	// Default 10000.
	ChunkSize int `mapstructure:"chunk_size"`
	// Parallelism is how many tables are snapshotted at once, 1..64.
	// Default 4.
	Parallelism int `mapstructure:"parallelism"`
	// ProgressInterval is how often snapshot progress is logged. Default
	// 10s; 0 disables progress logging.
	ProgressInterval time.Duration `mapstructure:"progress_interval"`
}

// Kafka is where the change events go.
type Kafka struct {
	// Brokers are the seed brokers, host:port. Default empty: an embedded
	// in-process development broker on 127.0.0.1:9092 (development only).
	Brokers []string `mapstructure:"brokers"`
	// ExactlyOnce writes events, checkpoints and schema history in one
	// Kafka transaction under transactional.id sluice-<name>; false gives
	// at-least-once delivery. Default true.
	ExactlyOnce bool `mapstructure:"exactly_once"`
	// TransactionTimeout is the longest any one Kafka transaction may stay
	// open before the brokers abort it (the producer's
	// transaction.timeout.ms), with exactly_once. It must not exceed the
	// brokers' transaction.max.timeout.ms (15m by default); Sluice checks
	// that at start and stops if it does. Until snapshots commit in
	// chunks, an exactly-once initial snapshot is one transaction and
	// must finish within it. Default 60s; must be positive.
	TransactionTimeout time.Duration `mapstructure:"transaction_timeout"`
	// Tombstones follows every delete event with a record with the same key
	// and a null value, so that compacted topics drop the key. Default true.
	Tombstones bool `mapstructure:"tombstones"`
	// TransactionMetadata emits transaction BEGIN and END events to the
	// topic <name>.transaction and fills the envelope's transaction block.
	// Default false.
	TransactionMetadata bool `mapstructure:"transaction_metadata"`
	// Partitions is the partition count of change topics Sluice creates.
	// Existing topics are left alone. Default 1.
	Partitions int `mapstructure:"partitions"`
	// ReplicationFactor is the replication factor of topics Sluice
	// creates. Default -1: the broker's default.replication.factor.
	ReplicationFactor int `mapstructure:"replication_factor"`
	// DeliveryTimeout is how long a record may wait for acknowledgement
	// before the producer fails (and Sluice stops). Default 2m; must be
	// positive.
	DeliveryTimeout time.Duration `mapstructure:"delivery_timeout"`
	// MaxRecordBytes is the producer's maximum record batch size in bytes.
	// Default 1048576, the broker's default message.max.bytes; raise both
	// together for rows larger than that.
	MaxRecordBytes int `mapstructure:"max_record_bytes"`
	// Compression is the record batch compression: none, lz4, zstd,
	// snappy or gzip. Default none, as Kafka's producer (and so Debezium)
	// defaults: a sidecar spends no CPU of the database's host on it. Set
	// lz4 or zstd where the network to Kafka or broker disk is the
	// constraint, or let the broker compress (the topic's compression.type).
	Compression string `mapstructure:"compression"`
	// ClientID is the Kafka client.id. Default sluice-<name>.
	ClientID string `mapstructure:"client_id"`
	// SASL configures SASL authentication to the brokers.
	SASL SASL `mapstructure:"sasl"`
	// TLS configures TLS to the brokers.
	TLS TLS `mapstructure:"tls"`
}

// SASL configures SASL authentication to Kafka.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Default empty:
	// no SASL.
	Mechanism string `mapstructure:"mechanism"`
	// Username is the SASL user. Required when mechanism is set.
	Username string `mapstructure:"username"`
	// Password is the SASL password. Secret: never printed. Required (or
	// password_file) when mechanism is set.
	Password string `mapstructure:"password" sluice:"secret"`
	// PasswordFile is a file holding the SASL password (a trailing newline
	// is trimmed). Load reads it into Password. Default empty.
	PasswordFile string `mapstructure:"password_file"`
}

// SchemaRegistry is the Confluent-compatible Schema Registry.
type SchemaRegistry struct {
	// URL is the registry's base URL, http:// or https://. Default empty:
	// an embedded in-process development registry on
	// http://127.0.0.1:8081 (development only).
	URL string `mapstructure:"url"`
	// Username is the HTTP basic-auth user. Default empty: no
	// authentication.
	Username string `mapstructure:"username"`
	// Password is the HTTP basic-auth password. Secret: never printed.
	// Required (or password_file) when username is set.
	Password string `mapstructure:"password" sluice:"secret"`
	// PasswordFile is a file holding the basic-auth password (a trailing
	// newline is trimmed). Load reads it into Password. Default empty.
	PasswordFile string `mapstructure:"password_file"`
	// TLS configures TLS to the registry (for https:// URLs).
	TLS TLS `mapstructure:"tls"`
	// AvroLogicalTypes adds the standard Avro logicalTypes to temporal
	// and uuid columns (date, time-millis, time-micros,
	// local-timestamp-millis, local-timestamp-micros, uuid), so that
	// generic Avro readers return typed values. Default false: the
	// schemas are exactly Debezium's, whose only logicalType is decimal.
	// Values a logical type cannot hold (±infinity, BC dates, years after
	// 9999, 24:00:00) may then fail in consumers that convert them; see
	// docs/TYPES.md. Changing it registers a new schema version.
	AvroLogicalTypes bool `mapstructure:"avro_logical_types"`
}

// HTTP configures Sluice's own HTTP server.
type HTTP struct {
	// Listen is the host:port serving /metrics, /healthz and /readyz.
	// Default 127.0.0.1:8080; an empty string disables the HTTP server.
	Listen string `mapstructure:"listen"`
	// ReadinessTimeout is how long the instance may go without progress
	// (a row change handled, a Kafka acknowledgement, a checkpoint
	// committed or an idle position from the source) before /readyz
	// reports not ready. An idle source reports its position at least
	// every heartbeat or status interval. Default 60s; must be positive.
	ReadinessTimeout time.Duration `mapstructure:"readiness_timeout"`
	// LivenessTimeout is how long the instance may go without progress
	// while work is pending (events produced but not checkpointed, the
	// source inside a transaction, or a checkpoint commit under way)
	// before /healthz reports a failure, so that a wedged pipeline is
	// restarted. Keep it above twice kafka.delivery_timeout, the longest
	// Sluice waits for a checkpoint commit before it restarts the pipeline
	// in the process itself. Default 5m; 0 disables the check.
	LivenessTimeout time.Duration `mapstructure:"liveness_timeout"`
}

// Checkpoint configures how often the source position is committed.
type Checkpoint struct {
	// Interval is how often the checkpoint (and, in exactly-once mode, the
	// Kafka transaction) is committed, at the next transaction boundary.
	// Default 1s; must be positive.
	Interval time.Duration `mapstructure:"interval"`
	// MaxEvents commits earlier, at the next transaction boundary, once
	// this many events are pending. Default 250000; must be positive.
	// Each commit holds the source for a flush, and in exactly-once mode
	// for the transaction's end and the next one's start, so while a
	// backlog drains the commits should be about one a second (Interval):
	// the default lets Interval rule up to 250,000 events a second.
	MaxEvents int `mapstructure:"max_events"`
	// Linger, in exactly-once mode while Sluice is caught up with the
	// source, commits a batch once its oldest event has waited this long,
	// before Interval: the latency a read_committed consumer sees. Default
	// 10ms; 0 commits at every transaction boundary; Interval or more
	// turns it off.
	Linger time.Duration `mapstructure:"linger"`
}

// TLS configures one TLS client connection. Paths are read when the
// connection is made, not by Load.
type TLS struct {
	// Enabled turns TLS on. Default false. The other keys require it.
	Enabled bool `mapstructure:"enabled"`
	// CAFile is a PEM file of CA certificates to trust. Default empty:
	// the system roots.
	CAFile string `mapstructure:"ca_file"`
	// CertFile is the PEM client certificate for mutual TLS; set together
	// with key_file. Default empty.
	CertFile string `mapstructure:"cert_file"`
	// KeyFile is the PEM private key of cert_file. Default empty.
	KeyFile string `mapstructure:"key_file"`
	// ServerName overrides the host name verified in the server
	// certificate. Default empty: the host being dialled.
	ServerName string `mapstructure:"server_name"`
	// InsecureSkipVerify disables server certificate verification. For
	// tests only. Default false.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
}

// SkipsOp reports whether events of the Debezium operation code op (c, u,
// d, t) are skipped under SkippedOperations.
func (s *Source) SkipsOp(op byte) bool {
	for _, o := range s.SkippedOperations {
		if len(o) == 1 && o[0] == op {
			return true
		}
	}
	return false
}

// Defaults returns the configuration used for every key that neither the
// file nor the environment sets. Name-derived defaults (slot, publication,
// client_id) are empty here; Load fills them from the name.
func Defaults() Config {
	return Config{
		Log: Log{Level: "info", Format: "text"},
		Source: Source{
			Tables:         []string{},
			ExcludeTables:  []string{},
			ExcludeColumns: []string{},
			// As Debezium's skipped.operations default.
			SkippedOperations: []string{"t"},
			Postgres: PostgresSource{
				HeartbeatInterval: 10 * time.Second,
				StatusInterval:    10 * time.Second,
			},
			MySQL: MySQLSource{HeartbeatInterval: 10 * time.Second, SignalTable: "sluice.sluice_signal"},
		},
		Snapshot: Snapshot{
			Mode:             SnapshotInitial,
			ChunkSize:        10000,
			Parallelism:      4,
			ProgressInterval: 10 * time.Second,
		},
		Kafka: Kafka{
			Brokers:            []string{},
			ExactlyOnce:        true,
			TransactionTimeout: 60 * time.Second,
			Tombstones:         true,
			Partitions:         1,
			ReplicationFactor:  -1,
			DeliveryTimeout:    2 * time.Minute,
			MaxRecordBytes:     1048576,
			Compression:        "none",
		},
		HTTP:       HTTP{Listen: "127.0.0.1:8080", ReadinessTimeout: time.Minute, LivenessTimeout: 5 * time.Minute},
		Checkpoint: Checkpoint{Interval: time.Second, MaxEvents: 250000, Linger: 10 * time.Millisecond},
	}
}

// Embedded reports whether the embedded development Kafka broker and Schema
// Registry are used: no brokers, and no registry URL, are configured.
func (c *Config) Embedded() (kafka, registry bool) {
	return len(c.Kafka.Brokers) == 0, c.SchemaRegistry.URL == ""
}

// String returns Redacted, so that printing a Config with %v or %s never
// shows a secret.
func (c Config) String() string { return c.Redacted() }

// GoString returns Redacted, so that %#v never shows a secret.
func (c Config) GoString() string { return c.Redacted() }

// LogValue returns Redacted, so that slog never shows a secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.Redacted()) }

// String returns the section redacted like Config.Redacted.
func (s Source) String() string { return redactedDump(s) }

// GoString returns the section redacted like Config.Redacted.
func (s Source) GoString() string { return redactedDump(s) }

// String returns the section redacted like Config.Redacted.
func (s SASL) String() string { return redactedDump(s) }

// GoString returns the section redacted like Config.Redacted.
func (s SASL) GoString() string { return redactedDump(s) }

// String returns the section redacted like Config.Redacted.
func (s SchemaRegistry) String() string { return redactedDump(s) }

// GoString returns the section redacted like Config.Redacted.
func (s SchemaRegistry) GoString() string { return redactedDump(s) }

// Redacted returns the configuration as YAML, one key per line, for the
// startup log. Every secret that is set is replaced by "***", and a password
// inside the registry URL is masked too. With secrets put back, the output
// loads to the same Config.
func (c *Config) Redacted() string { return redactedDump(*c) }

// redactedDump renders a configuration struct (or one of its sections) as
// block YAML in field order.
func redactedDump(v any) string {
	var b strings.Builder
	dumpStruct(&b, reflect.ValueOf(v), 0)
	return b.String()
}

func dumpStruct(b *strings.Builder, v reflect.Value, depth int) {
	t := v.Type()
	indent := strings.Repeat("  ", depth)
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		if key == "" || !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != durationType {
			b.WriteString(indent + key + ":\n")
			dumpStruct(b, fv, depth+1)
			continue
		}
		b.WriteString(indent + key + ": " + dumpLeaf(f, fv) + "\n")
	}
}

func dumpLeaf(f reflect.StructField, v reflect.Value) string {
	switch {
	case f.Tag.Get("sluice") == "secret":
		if v.String() == "" {
			return `""`
		}
		return `"***"`
	case v.Type() == durationType:
		return v.Interface().(time.Duration).String()
	case v.Kind() == reflect.String && f.Tag.Get("mapstructure") == "url":
		return strconv.Quote(redactURL(v.String()))
	case v.Kind() == reflect.String:
		return strconv.Quote(v.String())
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			if t, ok := v.Index(i).Interface().(Transform); ok {
				items[i] = t.String() // a flow mapping, salt masked
				continue
			}
			items[i] = strconv.Quote(v.Index(i).String())
		}
		return "[" + strings.Join(items, ", ") + "]"
	default:
		return fmtScalar(v)
	}
}

func fmtScalar(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	default:
		return strconv.Quote(v.String())
	}
}

// redactURL masks the password of a URL's user information, which would
// otherwise leak basic-auth credentials written into schema_registry.url.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// An unparsable URL may still hold user:pass@; show nothing of it.
		if strings.Contains(s, "@") {
			return "***"
		}
		return s
	}
	if _, has := u.User.Password(); has {
		// URL.Redacted writes "xxxxx"; "***" is what every other secret
		// shows, and url.UserPassword would escape it.
		return strings.Replace(u.Redacted(), ":xxxxx@", ":***@", 1)
	}
	return u.String()
}

var durationType = reflect.TypeFor[time.Duration]()
