package schema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// TestDefaultSchemasHaveNoTemporalLogicalTypes: the default schemas carry a
// logicalType only on Kafka Connect's Decimal, as Debezium's AvroConverter
// writes them.
func TestDefaultSchemasHaveNoTemporalLogicalTypes(t *testing.T) {
	for _, golden := range []string{"postgres_types.avsc", "mysql_types.avsc"} {
		var s any
		b := mustRead(t, golden)
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		walkSchema(s, func(m map[string]any) {
			if lt, ok := m["logicalType"]; ok && (lt != "decimal" || m["connect.name"] != "org.apache.kafka.connect.data.Decimal") {
				t.Errorf("%s: logicalType %v on %v", golden, lt, m["connect.name"])
			}
		})
	}
}

// TestDefaultSchemasDecodeSpecialValues: under the default schemas, values
// no Avro logical type can hold (±infinity, BC, years after 9999, 24:00)
// decode as their plain numbers.
func TestDefaultSchemasDecodeSpecialValues(t *testing.T) {
	for _, tc := range []struct {
		col  Column
		in   string
		want any
	}{
		{pgCol("date", -1), "infinity", int32(2147483647)},
		{pgCol("date", -1), "-infinity", int32(-2147483648)},
		{pgCol("date", -1), "0044-03-15 BC", int32(-735160)},
		{pgCol("date", -1), "12345-06-07", int32(3789548)},
		{pgCol("time", -1), "24:00:00", int64(86400000000)},
		{pgCol("time", 3), "24:00:00", int32(86400000)},
		{pgCol("timestamp", -1), "infinity", int64(9223372036854775807)},
		{pgCol("timestamp", -1), "-infinity", int64(-9223372036854775808)},
		{pgCol("timestamp", 3), "0001-01-01 00:00:00 BC", int64(-62167219200000)},
		{pgCol("timestamp", -1), "10000-01-01 00:00:00", int64(253402300800000000)},
		{pgCol("uuid", -1), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	} {
		ct, err := PostgresColumnType(&tc.col)
		if err != nil {
			t.Fatal(err)
		}
		buf, err := pgEncode(ct, tc.in)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.col.Type, tc.in, err)
		}
		if got := pgDecode(t, pgCodecFor(t, ct.Avro), buf); got != tc.want {
			t.Errorf("%s(%d) %q decodes to %#v, want %#v", tc.col.Type, tc.col.TypeMod, tc.in, got, tc.want)
		}
	}
	zero := []struct {
		col  Column
		raw  string
		want any
	}{
		{myCol("date"), "0000-00-00", int32(-2147483648)},
		{Column{Name: "v", Type: "datetime", Precision: 6}, "0000-00-00 00:00:00", int64(-9223372036854775808)},
	}
	for _, tc := range zero {
		ct, err := MySQLColumnType(&tc.col)
		if err != nil {
			t.Fatal(err)
		}
		buf, err := myEncode(ct, tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := pgDecode(t, pgCodecFor(t, ct.Avro), buf); got != tc.want {
			t.Errorf("%s %q decodes to %#v, want %#v", tc.col.Type, tc.raw, got, tc.want)
		}
	}
}

// TestAvroLogicalTypesOption: the option adds the standard logicalType to
// the temporal and uuid columns of both key and value, and nothing else.
func TestAvroLogicalTypesOption(t *testing.T) {
	tbl := &Table{ID: TableID{Namespace: "public", Name: "t"}, Key: []int{0}, Columns: []Column{
		{Name: "id", Type: "uuid", TypeMod: -1},
		{Name: "d", Type: "date", TypeMod: -1, Nullable: true},
		{Name: "t3", Type: "time", TypeMod: 3, Nullable: true},
		{Name: "t6", Type: "time", TypeMod: -1, Nullable: true},
		{Name: "ts3", Type: "timestamp", TypeMod: 3, Nullable: true},
		{Name: "ts6", Type: "timestamp", TypeMod: -1, Nullable: true},
		{Name: "tstz", Type: "timestamptz", TypeMod: -1, Nullable: true},
		{Name: "n", Type: "numeric", TypeMod: pgNumericMod(10, 2), Nullable: true},
		{Name: "ds", Type: "_date", TypeMod: -1, Nullable: true},
	}}
	count := func(s string) map[string]int {
		n := map[string]int{}
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		walkSchema(v, func(m map[string]any) {
			if lt, ok := m["logicalType"].(string); ok {
				n[lt]++
			}
		})
		return n
	}
	def, err := NewCodec("x.public.t", tbl, CodecOptions{Kind: Postgres, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(def.ValueSchema); len(got) != 1 || got["decimal"] != 1 {
		t.Errorf("default value schema logicalTypes = %v, want only decimal", got)
	}
	if strings.Contains(def.KeySchema, "logicalType") {
		t.Errorf("default key schema has a logicalType: %s", def.KeySchema)
	}
	typed, err := NewCodec("x.public.t", tbl, CodecOptions{Kind: Postgres, Name: "x", AvroLogicalTypes: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"uuid": 1, "date": 2, "time-millis": 1, "time-micros": 1,
		"local-timestamp-millis": 1, "local-timestamp-micros": 1, "decimal": 1}
	if got := count(typed.ValueSchema); !equalCounts(got, want) {
		t.Errorf("typed value schema logicalTypes = %v, want %v", got, want)
	}
	if got := count(typed.KeySchema); !equalCounts(got, map[string]int{"uuid": 1}) {
		t.Errorf("typed key schema logicalTypes = %v", got)
	}
	for _, s := range []string{typed.KeySchema, typed.ValueSchema} {
		if _, err := goavro.NewCodec(s); err != nil {
			t.Fatal(err)
		}
	}
	// MySQL's TIME never gets time-micros: it is not a time of day.
	my, err := MySQLColumnType(&Column{Name: "v", Type: "time", Precision: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := WithLogicalTypes(MySQL, my).Avro.(map[string]any)["logicalType"]; ok {
		t.Error("MySQL TIME got a logicalType")
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// walkSchema calls f for every JSON object in an Avro schema.
func walkSchema(s any, f func(map[string]any)) {
	switch v := s.(type) {
	case []any:
		for _, e := range v {
			walkSchema(e, f)
		}
	case map[string]any:
		f(v)
		for _, e := range v {
			walkSchema(e, f)
		}
	}
}
