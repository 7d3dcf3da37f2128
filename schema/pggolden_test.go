package schema

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// pgGoldenColumns has one nullable column of each mapped Postgres type.
// Two columns use VariableScaleDecimal and two use Point, so the golden
// file also shows a named type defined once and then referenced.
func pgGoldenColumns() []Column {
	c := func(name, typ string, typmod int32) Column {
		return Column{Name: name, Type: typ, TypeMod: typmod, Nullable: true}
	}
	return []Column{
		c("c_int2", "int2", -1), c("c_int4", "int4", -1), c("c_int8", "int8", -1), c("c_oid", "oid", -1),
		c("c_float4", "float4", -1), c("c_float8", "float8", -1), c("c_bool", "bool", -1),
		c("c_numeric_12_2", "numeric", pgNumericMod(12, 2)), c("c_numeric_38_10", "numeric", pgNumericMod(38, 10)),
		c("c_numeric_3_neg2", "numeric", pgNumericMod(3, -2)), c("c_numeric", "numeric", -1), c("c_money", "money", -1),
		c("c_text", "text", -1), c("c_varchar", "varchar", 14), c("c_bpchar", "bpchar", 8), c("c_name", "name", -1),
		c("c_char", "char", -1), c("c_xml", "xml", -1), c("c_json", "json", -1), c("c_jsonb", "jsonb", -1),
		c("c_bytea", "bytea", -1), c("c_uuid", "uuid", -1),
		c("c_inet", "inet", -1), c("c_cidr", "cidr", -1), c("c_macaddr", "macaddr", -1), c("c_macaddr8", "macaddr8", -1),
		c("c_bit1", "bit", 1), c("c_bit10", "bit", 10), c("c_varbit", "varbit", -1),
		c("c_date", "date", -1), c("c_time", "time", -1), c("c_time3", "time", 3), c("c_timetz", "timetz", -1),
		c("c_timestamp", "timestamp", -1), c("c_timestamp3", "timestamp", 3), c("c_timestamptz", "timestamptz", -1),
		c("c_interval", "interval", -1), c("c_point", "point", -1),
		{Name: "c_enum", Type: "mood", Kind: "e", TypeMod: -1, Nullable: true, Enum: []string{"sad", "ok", "happy"}},
		c("c_int4range", "int4range", -1), c("c_tsvector", "tsvector", -1), c("c_hstore", "hstore", -1), c("c_ltree", "ltree", -1),
		{Name: "c_composite", Type: "address", Kind: "c", TypeMod: -1, Nullable: true},
		c("c_int4_array", "_int4", -1), c("c_text_array", "_text", -1), c("c_numeric_array", "_numeric", -1),
		c("c_numeric_12_2_array", "_numeric", pgNumericMod(12, 2)), c("c_timestamptz_array", "_timestamptz", -1),
		c("c_point_array", "_point", -1),
	}
}

func TestPostgresGoldenSchema(t *testing.T) {
	cols := pgGoldenColumns()
	defined := map[string]bool{}
	fields := make([]any, len(cols))
	for i := range cols {
		ct, err := PostgresColumnType(&cols[i])
		if err != nil {
			t.Fatalf("%s: %v", cols[i].Name, err)
		}
		fields[i] = map[string]any{"name": cols[i].Name, "type": []any{"null", AvroTypeFor(ct, defined)}, "default": nil}
	}
	rec := map[string]any{"type": "record", "name": "postgres_types", "namespace": "sluice.test", "fields": fields}
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := goavro.NewCodec(string(js)); err != nil {
		t.Fatalf("goavro rejects the schema: %v", err)
	}
	assertGolden(t, "postgres_types.avsc", append(js, '\n'))
}

func TestPostgresAvroTypeFor(t *testing.T) {
	vsd, _ := PostgresColumnType(&Column{Type: "numeric", TypeMod: -1})
	arr, _ := PostgresColumnType(&Column{Type: "_numeric", TypeMod: -1})
	before, _ := json.Marshal(arr.Avro)
	defined := map[string]bool{}
	first := AvroTypeFor(vsd, defined)
	if !reflect.DeepEqual(first, vsd.Avro) {
		t.Errorf("first use: %v, want the full definition", first)
	}
	if !defined["io.debezium.data.VariableScaleDecimal"] {
		t.Errorf("defined = %v", defined)
	}
	if got := AvroTypeFor(vsd, defined); got != "io.debezium.data.VariableScaleDecimal" {
		t.Errorf("second use: %v, want a reference by full name", got)
	}
	got := AvroTypeFor(arr, defined)
	want := map[string]any{"type": "array", "items": []any{"null", "io.debezium.data.VariableScaleDecimal"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("array after definition: %v, want %v", got, want)
	}
	if after, _ := json.Marshal(arr.Avro); string(after) != string(before) {
		t.Errorf("AvroTypeFor modified the ColumnType's schema:\n%s\n%s", before, after)
	}
	if got := AvroTypeFor(vsd, nil); !reflect.DeepEqual(got, vsd.Avro) {
		t.Errorf("nil defined: %v", got)
	}
	// Every primitive mapping comes back as is.
	i4, _ := PostgresColumnType(&Column{Type: "int4", TypeMod: -1})
	if got := AvroTypeFor(i4, defined); got != "int" {
		t.Errorf("int4: %v", got)
	}
}
