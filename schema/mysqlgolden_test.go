package schema

import (
	"encoding/json"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// myGoldenColumns has one nullable column of each mapped MySQL type and
// variant (signedness, precision, length, charset). Two geometry columns
// show the Geometry record defined once and then referenced.
func myGoldenColumns() []Column {
	c := func(name, typ string) Column { return Column{Name: name, Type: typ, Nullable: true} }
	u := func(name, typ string) Column { return Column{Name: name, Type: typ, Nullable: true, Unsigned: true} }
	p := func(name, typ string, prec, scale int) Column {
		return Column{Name: name, Type: typ, Nullable: true, Precision: prec, Scale: scale}
	}
	s := func(name, typ, charset string) Column {
		return Column{Name: name, Type: typ, Nullable: true, Charset: charset}
	}
	return []Column{
		c("c_tinyint", "tinyint"), u("c_tinyint_u", "tinyint"), c("c_smallint", "smallint"), u("c_smallint_u", "smallint"),
		c("c_mediumint", "mediumint"), u("c_mediumint_u", "mediumint"), c("c_int", "int"), u("c_int_u", "int"),
		c("c_bigint", "bigint"), u("c_bigint_u", "bigint"),
		p("c_decimal_10_2", "decimal", 10, 2), p("c_decimal_65_30", "decimal", 65, 30), {Name: "c_decimal_u", Type: "decimal", Nullable: true, Unsigned: true, Precision: 5, Scale: 0},
		c("c_float", "float"), c("c_double", "double"),
		{Name: "c_bit1", Type: "bit", Nullable: true, Length: 1}, {Name: "c_bit64", Type: "bit", Nullable: true, Length: 64},
		s("c_char", "char", "utf8mb4"), s("c_varchar", "varchar", "utf8mb4"), s("c_text", "text", "utf8mb4"),
		s("c_longtext_latin1", "longtext", "latin1"),
		{Name: "c_binary", Type: "binary", Nullable: true, Length: 4, Charset: "binary"}, s("c_varbinary", "varbinary", "binary"),
		s("c_blob", "blob", "binary"),
		c("c_date", "date"), p("c_datetime", "datetime", 0, 0), p("c_datetime3", "datetime", 3, 0), p("c_datetime6", "datetime", 6, 0),
		p("c_timestamp", "timestamp", 0, 0), p("c_timestamp6", "timestamp", 6, 0), p("c_time6", "time", 6, 0), c("c_year", "year"),
		{Name: "c_enum", Type: "enum", Nullable: true, Enum: []string{"small", "medium", "large"}, Charset: "utf8mb4"},
		{Name: "c_set", Type: "set", Nullable: true, Enum: []string{"a", "b", "c"}, Charset: "utf8mb4"},
		c("c_json_mysql", "json"), s("c_json_mariadb", "json", "utf8mb4"),
		c("c_geometry", "geometry"), c("c_point", "point"),
	}
}

func TestMySQLGoldenSchema(t *testing.T) {
	cols := myGoldenColumns()
	defined := map[string]bool{}
	fields := make([]any, len(cols))
	for i := range cols {
		ct, err := MySQLColumnType(&cols[i])
		if err != nil {
			t.Fatalf("%s: %v", cols[i].Name, err)
		}
		fields[i] = map[string]any{"name": cols[i].Name, "type": []any{"null", AvroTypeFor(ct, defined)}, "default": nil}
	}
	rec := map[string]any{"type": "record", "name": "mysql_types", "namespace": "sluice.test", "fields": fields}
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := goavro.NewCodec(string(js)); err != nil {
		t.Fatalf("goavro rejects the schema: %v", err)
	}
	assertGolden(t, "mysql_types.avsc", append(js, '\n'))
}

// The MySQL envelope (source block included) is a valid schema, and a
// table of every type encodes a row that goavro decodes.
func TestMySQLCodec(t *testing.T) {
	cols := myGoldenColumns()
	cols = append([]Column{{Name: "id", Type: "int"}}, cols...)
	tbl := &Table{ID: TableID{Namespace: "db", Name: "t"}, Columns: cols, Key: []int{0}}
	c, err := NewCodec("inv.db.t", tbl, CodecOptions{Kind: MySQL, Name: "inv"})
	if err != nil {
		t.Fatal(err)
	}
	row := make([]any, len(cols))
	row[0] = int32(7)
	buf, err := c.AppendValue(nil, &Event{Op: 'c', After: row, TsMs: 1,
		Source: &SourceInfo{TsMs: 2, DB: "db", ServerID: 1, GTID: "0-1-5", File: "mysql-bin.000001", Pos: 4, Row: 1}})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(c.ValueSchema)
	if err != nil {
		t.Fatal(err)
	}
	v, rest, err := codec.NativeFromBinary(buf)
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode: %v (%d bytes left)", err, len(rest))
	}
	src := v.(map[string]any)["source"].(map[string]any)
	if src["connector"] != "mysql" || pgNormalize(src["gtid"]) != "0-1-5" || src["file"] != "mysql-bin.000001" || src["row"] != int32(1) {
		t.Errorf("source block %v", src)
	}
}
