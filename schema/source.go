package schema

import "strconv"

// unchanged is the type of Unchanged.
type unchanged struct{}

// Unchanged stands for a column value the source did not send because it
// did not change (an unchanged TOASTed Postgres value).
var Unchanged any = unchanged{}

// SourceInfo is the metadata of a change for the envelope's source block.
// A field a source kind does not have stays zero.
type SourceInfo struct {
	TsMs     int64  // commit time of the transaction, ms since epoch
	TsUs     int64  // the same in µs where the source has them; 0: TsMs*1000
	Snapshot string // "false", "true", "first", "last", ...; empty means "false"
	DB       string // database name

	// Postgres
	TxID int64
	LSN  int64 // LSN of the change; for snapshot reads the chunk's position
	// LastCommitLSN is the end LSN of the last transaction committed
	// before this change (0: none seen since the start). With LSN it makes
	// source.sequence, as Debezium's Postgres connector writes it.
	LastCommitLSN int64
	// Origin and OriginLSN: the replication origin of the transaction and
	// its commit LSN there, when it came from another node (pgoutput's
	// Origin message).
	Origin    string
	OriginLSN int64

	// MySQL
	ServerID int64
	GTID     string
	File     string
	Pos      int64
	Row      int32
	Thread   int64
	Query    string
}

// Connector names and version written in the source block.
const (
	ConnectorVersion = "sluice-0.1.0"
)

// Connector returns the source block's connector name of a source kind,
// as Debezium 3.x names its connectors: postgresql, mysql (MariaDB's is
// mariadb, set through CodecOptions.Connector).
func (k SourceKind) Connector() string {
	if k == Postgres {
		return "postgresql"
	}
	return string(k)
}

// snapshotField is the source block's snapshot field as Debezium declares
// it (an optional io.debezium.data.Enum with default "false"), and as
// Confluent's AvroConverter writes an optional field with a non-null
// default: the type first, then null.
var snapshotField = map[string]any{"name": "snapshot", "default": "false", "type": []any{
	map[string]any{
		"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Enum",
		"connect.parameters": map[string]any{"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
		"connect.default":    "false",
	},
	"null",
}}

// sourceSchema is the source block of Debezium 3.x's connector (postgresql,
// mysql or mariadb): the common fields of its SchemaFactory, then the
// connector's own.
func sourceSchema(connector string) map[string]any {
	optLong := []any{"null", "long"}
	optString := []any{"null", "string"}
	common := []any{
		field("version", "string"),
		field("connector", "string"),
		field("name", "string"),
		field("ts_ms", "long"),
		snapshotField,
		field("db", "string"),
		optField("sequence", optString),
		optField("ts_us", optLong),
		optField("ts_ns", optLong),
	}
	ns := "io.debezium.connector." + connector
	s := map[string]any{
		"type": "record", "name": "Source", "namespace": ns,
		"connect.name": ns + ".Source", "connect.version": 1,
	}
	if connector == Postgres.Connector() {
		s["fields"] = append(common,
			field("schema", "string"),
			field("table", "string"),
			optField("txId", optLong),
			optField("lsn", optLong),
			optField("xmin", optLong),
			optField("origin", optString),
			optField("origin_lsn", optLong),
		)
		return s
	}
	s["fields"] = append(common,
		optField("table", optString),
		field("server_id", "long"),
		optField("gtid", optString),
		field("file", "string"),
		field("pos", "long"),
		field("row", "int"),
		optField("thread", optLong),
		optField("query", optString),
	)
	return s
}

func field(name string, typ any) map[string]any { return map[string]any{"name": name, "type": typ} }

func optField(name string, typ any) map[string]any {
	return map[string]any{"name": name, "type": typ, "default": nil}
}

func appendOptLong(dst []byte, v int64, ok bool) []byte {
	if !ok {
		return AppendNullableNull(dst)
	}
	return AppendLong(AppendNullableSome(dst), v)
}

func appendOptString(dst []byte, v string) []byte {
	if v == "" {
		return AppendNullableNull(dst)
	}
	return AppendString(AppendNullableSome(dst), v)
}

// appendSequence appends Debezium's Postgres source.sequence: the JSON
// array [lastCommitLsn, lsn] of decimal strings, null for one not known.
func appendSequence(dst []byte, lastCommit, lsn int64) []byte {
	var b [64]byte
	s := append(b[:0], '[')
	for i, v := range [2]int64{lastCommit, lsn} {
		if i > 0 {
			s = append(s, ',')
		}
		if v == 0 {
			s = append(s, "null"...)
			continue
		}
		s = append(s, '"')
		s = strconv.AppendUint(s, uint64(v), 10)
		s = append(s, '"')
	}
	s = append(s, ']')
	dst = AppendNullableSome(dst)
	dst = AppendLong(dst, int64(len(s)))
	return append(dst, s...)
}

// appendSource encodes the source block; it must follow sourceSchema's
// field order exactly.
func appendSource(dst []byte, connector, name string, t TableID, s *SourceInfo) []byte {
	dst = AppendString(dst, ConnectorVersion)
	dst = AppendString(dst, connector)
	dst = AppendString(dst, name)
	dst = AppendLong(dst, s.TsMs)
	snap := s.Snapshot
	if snap == "" {
		snap = "false"
	}
	dst = AppendLong(dst, 0) // union branch 0: the enum (null is branch 1)
	dst = AppendString(dst, snap)
	dst = AppendString(dst, s.DB)
	pg := connector == Postgres.Connector()
	if pg {
		dst = appendSequence(dst, s.LastCommitLSN, s.LSN)
	} else {
		dst = AppendNullableNull(dst) // sequence: Debezium's binlog connectors write none
	}
	us := s.TsUs
	if us == 0 {
		us = s.TsMs * 1000
	}
	dst = AppendLong(AppendNullableSome(dst), us)
	dst = AppendLong(AppendNullableSome(dst), us*1000)
	if pg {
		dst = AppendString(dst, t.Namespace)
		dst = AppendString(dst, t.Name)
		dst = appendOptLong(dst, s.TxID, s.TxID != 0)
		dst = appendOptLong(dst, s.LSN, s.LSN != 0)
		dst = AppendNullableNull(dst) // xmin: not tracked (as Debezium's default)
		dst = appendOptString(dst, s.Origin)
		dst = appendOptLong(dst, s.OriginLSN, s.Origin != "")
		return dst
	}
	dst = appendOptString(dst, t.Name)
	dst = AppendLong(dst, s.ServerID)
	dst = appendOptString(dst, s.GTID)
	dst = AppendString(dst, s.File)
	dst = AppendLong(dst, s.Pos)
	dst = AppendInt(dst, s.Row)
	dst = appendOptLong(dst, s.Thread, s.Thread != 0)
	dst = appendOptString(dst, s.Query)
	return dst
}
