package schema

// unchanged is the type of Unchanged.
type unchanged struct{}

// Unchanged stands for a column value the source did not send because it
// did not change (an unchanged TOASTed Postgres value).
var Unchanged any = unchanged{}

// SourceInfo is the metadata of a change for the envelope's source block.
// A field a source kind does not have stays zero.
type SourceInfo struct {
	TsMs     int64  // commit time of the transaction, ms since epoch
	Snapshot string // "false", "true", "first", "last", ...; empty means "false"
	DB       string // database name

	// Postgres
	TxID int64
	LSN  int64 // LSN of the change; 0 for snapshot reads

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

func sourceSchema(kind SourceKind) map[string]any {
	optLong := []any{"null", "long"}
	optString := []any{"null", "string"}
	snapshot := map[string]any{
		"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Enum",
		"connect.parameters": map[string]any{"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
		"connect.default":    "false",
	}
	common := []any{
		field("version", "string"),
		field("connector", "string"),
		field("name", "string"),
		field("ts_ms", "long"),
		map[string]any{"name": "snapshot", "type": snapshot, "default": "false"},
		field("db", "string"),
		optField("sequence", optString),
	}
	switch kind {
	case Postgres:
		return map[string]any{
			"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql",
			"connect.name": "io.debezium.connector.postgresql.Source",
			"fields": append(common,
				field("schema", "string"),
				field("table", "string"),
				optField("txId", optLong),
				optField("lsn", optLong),
				optField("xmin", optLong),
			),
		}
	default:
		return map[string]any{
			"type": "record", "name": "Source", "namespace": "io.debezium.connector.mysql",
			"connect.name": "io.debezium.connector.mysql.Source",
			"fields": append(common,
				optField("table", optString),
				field("server_id", "long"),
				optField("gtid", optString),
				field("file", "string"),
				field("pos", "long"),
				field("row", "int"),
				optField("thread", optLong),
				optField("query", optString),
			),
		}
	}
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

// appendSource encodes the source block; it must follow sourceSchema's
// field order exactly.
func appendSource(dst []byte, kind SourceKind, name string, t TableID, s *SourceInfo) []byte {
	dst = AppendString(dst, ConnectorVersion)
	dst = AppendString(dst, string(kind))
	dst = AppendString(dst, name)
	dst = AppendLong(dst, s.TsMs)
	snap := s.Snapshot
	if snap == "" {
		snap = "false"
	}
	dst = AppendString(dst, snap)
	dst = AppendString(dst, s.DB)
	dst = AppendNullableNull(dst) // sequence
	switch kind {
	case Postgres:
		dst = AppendString(dst, t.Namespace)
		dst = AppendString(dst, t.Name)
		dst = appendOptLong(dst, s.TxID, s.TxID != 0)
		dst = appendOptLong(dst, s.LSN, s.LSN != 0)
		dst = AppendNullableNull(dst) // xmin: not tracked (as Debezium's default)
	default:
		dst = appendOptString(dst, t.Name)
		dst = AppendLong(dst, s.ServerID)
		dst = appendOptString(dst, s.GTID)
		dst = AppendString(dst, s.File)
		dst = AppendLong(dst, s.Pos)
		dst = AppendInt(dst, s.Row)
		dst = appendOptLong(dst, s.Thread, s.Thread != 0)
		dst = appendOptString(dst, s.Query)
	}
	return dst
}
