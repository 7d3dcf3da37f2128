package schema

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"
)

// Schema-change events of a MySQL source, written to the topic <name> as
// Debezium's MySQL connector writes them: key
// io.debezium.connector.<connector>.SchemaChangeKey {databaseName}, value
// io.debezium.connector.<connector>.SchemaChangeValue {source, ts_ms,
// databaseName, schemaName, ddl, tableChanges}. tableChanges names each
// table a CREATE, ALTER, DROP, RENAME or TRUNCATE statement touches
// (type and id); its table is null: Sluice learns table definitions from
// the binlog's row metadata, not by parsing DDL, and records each version
// in the schema history when its first row arrives.

// SchemaChangeCodec encodes the schema-change events of one connector.
type SchemaChangeCodec struct {
	Topic       string
	KeySchema   string
	ValueSchema string
	name        string
	connector   string
}

// TableChange is one entry of tableChanges.
type TableChange struct {
	Type string // CREATE, ALTER or DROP
	ID   string // "db"."table", as Debezium's TableId.toDoubleQuotedString
}

// SchemaChangeEvent is the input of AppendValue.
type SchemaChangeEvent struct {
	Database string
	DDL      string
	Source   *SourceInfo
	TsMs     int64
}

// NewMySQLSchemaChangeCodec builds the key and value schemas for the
// schema-change topic of connector name, validated with goavro.
// connector is source.connector: mysql, or mariadb for a MariaDB server.
func NewMySQLSchemaChangeCodec(topic, name, connector string) (*SchemaChangeCodec, error) {
	key := map[string]any{
		"type": "record", "name": "SchemaChangeKey", "namespace": "io.debezium.connector." + connector,
		"connect.name": "io.debezium.connector." + connector + ".SchemaChangeKey", "connect.version": 1,
		"fields": []any{field("databaseName", "string")},
	}
	optString := []any{"null", "string"}
	optInt := []any{"null", "int"}
	column := map[string]any{
		"type": "record", "name": "Column", "namespace": "io.debezium.connector.schema",
		"connect.name": "io.debezium.connector.schema.Column",
		"fields": []any{
			field("name", "string"), field("jdbcType", "int"), optField("nativeType", optInt), field("typeName", "string"),
			optField("typeExpression", optString), optField("charsetName", optString), optField("length", optInt),
			optField("scale", optInt), field("position", "int"), optField("optional", []any{"null", "boolean"}),
			optField("autoIncremented", []any{"null", "boolean"}), optField("generated", []any{"null", "boolean"}),
			optField("comment", optString), optField("defaultValueExpression", optString),
			optField("enumValues", []any{"null", map[string]any{"type": "array", "items": "string"}}),
		},
	}
	table := map[string]any{
		"type": "record", "name": "Table", "namespace": "io.debezium.connector.schema",
		"connect.name": "io.debezium.connector.schema.Table",
		"fields": []any{
			optField("defaultCharsetName", optString),
			optField("primaryKeyColumnNames", []any{"null", map[string]any{"type": "array", "items": "string"}}),
			field("columns", map[string]any{"type": "array", "items": column}),
			optField("comment", optString),
		},
	}
	change := map[string]any{
		"type": "record", "name": "Change", "namespace": "io.debezium.connector.schema",
		"connect.name": "io.debezium.connector.schema.Change",
		"fields":       []any{field("type", "string"), field("id", "string"), optField("table", []any{"null", table})},
	}
	value := map[string]any{
		"type": "record", "name": "SchemaChangeValue", "namespace": "io.debezium.connector." + connector,
		"connect.name": "io.debezium.connector." + connector + ".SchemaChangeValue", "connect.version": 1,
		"fields": []any{
			field("source", sourceSchema(connector)),
			field("ts_ms", "long"),
			optField("databaseName", optString),
			optField("schemaName", optString),
			optField("ddl", optString),
			field("tableChanges", map[string]any{"type": "array", "items": change}),
		},
	}
	c := &SchemaChangeCodec{Topic: topic, name: name, connector: connector}
	kb, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	vb, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	c.KeySchema, c.ValueSchema = string(kb), string(vb)
	if _, err := goavro.NewCodec(c.KeySchema); err != nil {
		return nil, fmt.Errorf("schema change key schema invalid: %w", err)
	}
	if _, err := goavro.NewCodec(c.ValueSchema); err != nil {
		return nil, fmt.Errorf("schema change value schema invalid: %w", err)
	}
	return c, nil
}

// AppendKey appends the key record {databaseName}.
func (c *SchemaChangeCodec) AppendKey(dst []byte, database string) []byte {
	return AppendString(dst, database)
}

// AppendValue appends the value record. DDL text that is not valid UTF-8
// (a statement with binary literals) is an error: Avro strings are UTF-8.
func (c *SchemaChangeCodec) AppendValue(dst []byte, e *SchemaChangeEvent) ([]byte, error) {
	if !utf8.ValidString(e.DDL) {
		return dst, fmt.Errorf("%w: the DDL statement is not valid UTF-8", ErrMySQLUnrepresentable)
	}
	dst = appendSource(dst, c.connector, c.name, TableID{Namespace: e.Database}, e.Source)
	dst = AppendLong(dst, e.TsMs)
	dst = appendOptString(dst, e.Database)
	dst = AppendNullableNull(dst) // schemaName: MySQL has none
	dst = appendOptString(dst, e.DDL)
	changes := DDLTableChanges(e.Database, e.DDL)
	if len(changes) > 0 {
		dst = AppendLong(dst, int64(len(changes)))
		for _, ch := range changes {
			dst = AppendString(dst, ch.Type)
			dst = AppendString(dst, ch.ID)
			dst = AppendNullableNull(dst) // table
		}
	}
	return AppendLong(dst, 0), nil // end of the array
}

// DDLTableChanges names the tables a DDL statement creates, alters (ALTER,
// RENAME, TRUNCATE) or drops, qualified with database when the statement
// does not name one. It reads only the statement's head: anything it does
// not recognise yields no entry.
func DDLTableChanges(database, ddl string) []TableChange {
	toks := sqlTokens(ddl, 64)
	if len(toks) < 2 {
		return nil
	}
	kw := func(i int) string {
		if i < len(toks) && !toks[i].quoted {
			return strings.ToUpper(toks[i].text)
		}
		return ""
	}
	i := 1
	var kind string
	switch kw(0) {
	case "CREATE":
		kind = "CREATE"
		if kw(i) == "OR" && kw(i+1) == "REPLACE" {
			i += 2
		}
		if kw(i) == "TEMPORARY" {
			i++
		}
		if kw(i) != "TABLE" {
			return nil
		}
		i++
		if kw(i) == "IF" && kw(i+1) == "NOT" && kw(i+2) == "EXISTS" {
			i += 3
		}
		if id, _, ok := tableName(toks, i, database); ok {
			return []TableChange{{Type: kind, ID: id}}
		}
	case "ALTER":
		for kw(i) == "ONLINE" || kw(i) == "IGNORE" {
			i++
		}
		if kw(i) != "TABLE" {
			return nil
		}
		i++
		if kw(i) == "IF" && kw(i+1) == "EXISTS" {
			i += 2
		}
		if id, _, ok := tableName(toks, i, database); ok {
			return []TableChange{{Type: "ALTER", ID: id}}
		}
	case "TRUNCATE":
		if kw(i) == "TABLE" {
			i++
		}
		if id, _, ok := tableName(toks, i, database); ok {
			return []TableChange{{Type: "ALTER", ID: id}}
		}
	case "DROP", "RENAME":
		drop := kw(0) == "DROP"
		if drop && kw(i) == "TEMPORARY" {
			i++
		}
		if kw(i) != "TABLE" && kw(i) != "TABLES" {
			return nil
		}
		i++
		if drop && kw(i) == "IF" && kw(i+1) == "EXISTS" {
			i += 2
		}
		var out []TableChange
		for i < len(toks) {
			id, next, ok := tableName(toks, i, database)
			if !ok {
				break
			}
			i = next
			if drop {
				out = append(out, TableChange{Type: "DROP", ID: id})
			} else {
				if kw(i) != "TO" {
					break
				}
				to, n2, ok := tableName(toks, i+1, database)
				if !ok {
					break
				}
				out = append(out, TableChange{Type: "DROP", ID: id}, TableChange{Type: "CREATE", ID: to})
				i = n2
			}
			if i < len(toks) && !toks[i].quoted && toks[i].text == "," {
				i++
				continue
			}
			break
		}
		return out
	}
	return nil
}

type sqlToken struct {
	text   string
	quoted bool // a `quoted` identifier
}

// sqlTokens splits the head of a statement into words, `quoted`
// identifiers and single punctuation characters, skipping comments.
func sqlTokens(s string, limit int) []sqlToken {
	var out []sqlToken
	for len(out) < limit {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case s == "":
			return out
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s[2:], "*/")
			if end < 0 {
				return out
			}
			s = s[end+4:]
			continue
		case strings.HasPrefix(s, "-- "), s[0] == '#':
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				return out
			}
			s = s[end+1:]
			continue
		case s[0] == '`':
			var b strings.Builder
			i := 1
			for {
				if i >= len(s) {
					return out
				}
				if s[i] == '`' {
					if i+1 < len(s) && s[i+1] == '`' {
						b.WriteByte('`')
						i += 2
						continue
					}
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, sqlToken{text: b.String(), quoted: true})
			s = s[i+1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] == '_' || s[i] == '$' || s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 0x80) {
			i++
		}
		if i == 0 {
			i = 1
		}
		out = append(out, sqlToken{text: s[:i]})
		s = s[i:]
	}
	return out
}

// tableName reads [db.]table at toks[i]; it returns the Debezium id and the
// index after the name.
func tableName(toks []sqlToken, i int, database string) (string, int, bool) {
	ident := func(j int) bool {
		return j < len(toks) && (toks[j].quoted || toks[j].text != "" && toks[j].text != "," && toks[j].text != "(" && toks[j].text != "." && toks[j].text != ";")
	}
	if !ident(i) {
		return "", i, false
	}
	db, name := database, toks[i].text
	next := i + 1
	if next+1 < len(toks) && !toks[next].quoted && toks[next].text == "." && ident(next+1) {
		db, name = name, toks[next+1].text
		next += 2
	}
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	if db == "" {
		return q(name), next, true
	}
	return q(db) + "." + q(name), next, true
}
