package transform

import (
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// unwrapSpec is one unwrap entry: Debezium's ExtractNewRecordState.
type unwrapSpec struct {
	tables         []string // patterns
	fields         []addField
	deletes        string // config.DeleteDrop, DeleteRewrite or DeleteNone
	dropTombstones bool
}

// addField is one field of add_fields: its name in the value, its Avro
// type (optional, as Debezium copies the envelope field's schema as
// optional) and how to append its value.
type addField struct {
	name   string
	avro   any
	append func(dst []byte, x *extract) []byte
}

// extract is what an added field's value comes from.
type extract struct {
	op        byte
	tsMs      int64 // the event's processing time (envelope ts_ms)
	connector string
	name      string
	table     schema.TableID
	src       *schema.SourceInfo
}

func newUnwrap(entry int, t *config.Transform, kind schema.SourceKind) (*unwrapSpec, error) {
	u := &unwrapSpec{tables: t.Tables, deletes: t.DeleteHandling, dropTombstones: t.DropTombstones}
	for _, f := range t.AddFields {
		field, name, err := config.ParseAddField(f)
		if err != nil {
			return nil, &config.Error{Key: config.TransformKey(entry, "add_fields"), Value: f, Msg: err.Error()}
		}
		af, ok := sourceField(field, kind)
		if !ok {
			return nil, &config.Error{Key: config.TransformKey(entry, "add_fields"), Value: f,
				Msg: "is not a field of the " + string(kind) + " source block; remove it"}
		}
		af.name = name
		u.fields = append(u.fields, af)
	}
	return u, nil
}

func (u *unwrapSpec) matches(table string) bool {
	for _, p := range u.tables {
		if matchTable(p, table) {
			return true
		}
	}
	return false
}

// The optional types of the added fields.
var (
	optString = []any{"null", "string"}
	optLong   = []any{"null", "long"}
	optInt    = []any{"null", "int"}
	// optSnapshot is source.snapshot's type, made optional.
	optSnapshot = []any{"null", map[string]any{
		"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Enum",
		"connect.parameters": map[string]any{"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
	}}
)

func str(get func(x *extract) string) func([]byte, *extract) []byte {
	return func(dst []byte, x *extract) []byte {
		return schema.AppendString(schema.AppendNullableSome(dst), get(x))
	}
}

func optStr(get func(x *extract) string) func([]byte, *extract) []byte {
	return func(dst []byte, x *extract) []byte {
		if v := get(x); v != "" {
			return schema.AppendString(schema.AppendNullableSome(dst), v)
		}
		return schema.AppendNullableNull(dst)
	}
}

func long(get func(x *extract) int64) func([]byte, *extract) []byte {
	return func(dst []byte, x *extract) []byte {
		return schema.AppendLong(schema.AppendNullableSome(dst), get(x))
	}
}

func optLongOf(get func(x *extract) int64) func([]byte, *extract) []byte {
	return func(dst []byte, x *extract) []byte {
		if v := get(x); v != 0 {
			return schema.AppendLong(schema.AppendNullableSome(dst), v)
		}
		return schema.AppendNullableNull(dst)
	}
}

// sourceField returns the added field for an envelope field ("op",
// "ts_ms") or a field of the source block ("source.<name>") of the given
// source kind, with the values the envelope's source block carries.
func sourceField(field string, kind schema.SourceKind) (addField, bool) {
	pg, my := kind == schema.Postgres, kind == schema.MySQL
	switch field {
	case "op":
		return addField{avro: optString, append: str(func(x *extract) string { return string(rune(x.op)) })}, true
	case "ts_ms":
		return addField{avro: optLong, append: long(func(x *extract) int64 { return x.tsMs })}, true
	case "source.version":
		return addField{avro: optString, append: str(func(*extract) string { return schema.ConnectorVersion })}, true
	case "source.connector":
		return addField{avro: optString, append: str(func(x *extract) string { return x.connector })}, true
	case "source.name":
		return addField{avro: optString, append: str(func(x *extract) string { return x.name })}, true
	case "source.ts_ms":
		return addField{avro: optLong, append: long(func(x *extract) int64 { return x.src.TsMs })}, true
	case "source.ts_us":
		return addField{avro: optLong, append: long(func(x *extract) int64 { return sourceTsUs(x.src) })}, true
	case "source.ts_ns":
		return addField{avro: optLong, append: long(func(x *extract) int64 { return sourceTsUs(x.src) * 1000 })}, true
	case "source.snapshot":
		return addField{avro: optSnapshot, append: str(func(x *extract) string {
			if x.src.Snapshot == "" {
				return "false"
			}
			return x.src.Snapshot
		})}, true
	case "source.db":
		return addField{avro: optString, append: str(func(x *extract) string { return x.src.DB })}, true
	case "source.table":
		return addField{avro: optString, append: str(func(x *extract) string { return x.table.Name })}, true
	case "source.schema":
		return addField{avro: optString, append: str(func(x *extract) string { return x.table.Namespace })}, pg
	case "source.txId":
		return addField{avro: optLong, append: optLongOf(func(x *extract) int64 { return x.src.TxID })}, pg
	case "source.lsn":
		return addField{avro: optLong, append: optLongOf(func(x *extract) int64 { return x.src.LSN })}, pg
	case "source.server_id":
		return addField{avro: optLong, append: long(func(x *extract) int64 { return x.src.ServerID })}, my
	case "source.gtid":
		return addField{avro: optString, append: optStr(func(x *extract) string { return x.src.GTID })}, my
	case "source.file":
		return addField{avro: optString, append: str(func(x *extract) string { return x.src.File })}, my
	case "source.pos":
		return addField{avro: optLong, append: long(func(x *extract) int64 { return x.src.Pos })}, my
	case "source.row":
		return addField{avro: optInt, append: func(dst []byte, x *extract) []byte {
			return schema.AppendInt(schema.AppendNullableSome(dst), x.src.Row)
		}}, my
	case "source.thread":
		return addField{avro: optLong, append: optLongOf(func(x *extract) int64 { return x.src.Thread })}, my
	}
	return addField{}, false
}

// sourceTsUs is source.ts_us as the envelope's source block writes it.
func sourceTsUs(s *schema.SourceInfo) int64 {
	if s.TsUs != 0 {
		return s.TsUs
	}
	return s.TsMs * 1000
}

// deletedField is Debezium's __deleted: an optional string "true" or
// "false", after the added fields.
const deletedField = "__deleted"

// valueSchema is the unwrapped value's Avro schema: the table's Value
// record with the added fields, and __deleted in rewrite mode.
func (u *unwrapSpec) valueSchema(codec *schema.Codec) string {
	rec := codec.ValueRecord()
	fields := rec["fields"].([]any)
	for _, f := range u.fields {
		fields = append(fields, map[string]any{"name": f.name, "type": f.avro, "default": nil})
	}
	if u.deletes == config.DeleteRewrite {
		fields = append(fields, map[string]any{"name": deletedField, "type": optString, "default": nil})
	}
	rec["fields"] = fields
	return mustJSON(rec)
}

// appendValue appends the unwrapped value of row.
func (u *unwrapSpec) appendValue(dst []byte, codec *schema.Codec, row []any, x *extract, deleted bool) ([]byte, error) {
	dst, err := codec.AppendRecord(dst, row)
	if err != nil {
		return dst, err
	}
	for _, f := range u.fields {
		dst = f.append(dst, x)
	}
	if u.deletes == config.DeleteRewrite {
		v := "false"
		if deleted {
			v = "true"
		}
		dst = schema.AppendString(schema.AppendNullableSome(dst), v)
	}
	return dst, nil
}
