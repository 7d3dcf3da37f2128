package schema

// Standard Avro logical types for temporal and uuid columns.
//
// By default a column's schema is exactly what Debezium 3.x registers
// through Confluent's AvroConverter: the physical type, connect.name,
// connect.version and connect.parameters, and a logicalType only on Kafka
// Connect's Decimal. Debezium's io.debezium.time.* and io.debezium.data.Uuid
// carry none, so consumers see ints, longs and strings, and values no Avro
// logical type can hold (±infinity sentinels, BC dates, years after 9999,
// 24:00:00) decode everywhere.
//
// CodecOptions.AvroLogicalTypes adds the standard logicalType to the
// columns whose value already is that logical type's physical value, for
// consumers that want typed values (schema_registry.avro_logical_types).

// logicalTypes maps a connect.name to the logicalType added under
// AvroLogicalTypes. MySQL's io.debezium.time.MicroTime is left out: it runs
// from -838:59:59 to 838:59:59, which time-micros (a time of day) cannot
// mean.
var logicalTypes = map[SourceKind]map[string]string{
	Postgres: {
		"io.debezium.time.Date":           "date",
		"io.debezium.time.Time":           "time-millis",
		"io.debezium.time.MicroTime":      "time-micros",
		"io.debezium.time.Timestamp":      "local-timestamp-millis",
		"io.debezium.time.MicroTimestamp": "local-timestamp-micros",
		"io.debezium.data.Uuid":           "uuid",
	},
	MySQL: {
		"io.debezium.time.Date":           "date",
		"io.debezium.time.Timestamp":      "local-timestamp-millis",
		"io.debezium.time.MicroTimestamp": "local-timestamp-micros",
	},
}

// WithLogicalTypes returns t with the standard Avro logicalType added to
// its schema (and to an array's elements) where logicalTypes names one.
// t.Avro itself is never modified.
func WithLogicalTypes(kind SourceKind, t ColumnType) ColumnType {
	t.Avro = addLogicalTypes(logicalTypes[kind], t.Avro)
	return t
}

func addLogicalTypes(lt map[string]string, s any) any {
	switch v := s.(type) {
	case []any: // union
		out := make([]any, len(v))
		for i, b := range v {
			out[i] = addLogicalTypes(lt, b)
		}
		return out
	case map[string]any:
		if v["type"] == "array" {
			cp := avroCopyMap(v)
			cp["items"] = addLogicalTypes(lt, v["items"])
			return cp
		}
		name, _ := v["connect.name"].(string)
		if l, ok := lt[name]; ok {
			cp := avroCopyMap(v)
			cp["logicalType"] = l
			return cp
		}
	}
	return s
}
