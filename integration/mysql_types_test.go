package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/harness"
)

// The type matrix, on each server of myServers: one column of every common
// type, rows of edge values, each row read once by the snapshot and once
// from the binlog, and every decoded value compared with an oracle that the
// server computes itself
// (CAST, DATEDIFF, TIMESTAMPDIFF, TIME_TO_SEC, HEX, ST_AsBinary, ...),
// never with Sluice's parsers. Values are decoded through the registry with
// goavro's native codec (harness.NewReader for the JSON view).
type myTypeCol struct {
	name, typ string
	// kind selects how the native decoded value is rendered for comparison
	// with the oracle text (myCanon).
	kind string
	// oracle renders the expected value as text; $c is the column.
	oracle string
	// vals are SQL literals; row i uses vals[i%len(vals)]. The last row is
	// NULL in every column.
	vals []string
}

const myText = "CAST($c AS CHAR)"

// myTypeColumns returns the columns for MariaDB or MySQL (mysqlOracles).
func myTypeColumns(mariadb bool) []myTypeCol {
	cols := myTypeColumnsMariaDB()
	if !mariadb {
		mysqlOracles(cols)
	}
	return cols
}

// mysqlOracles adapts the oracles to MySQL, whose functions differ:
// TIME_TO_SEC drops a TIME's fraction (and so the sign of
// '-00:00:00.000001'); ST_AsBinary writes a geographic SRS (4326) in
// latitude-longitude order unless asked for the stored longitude-latitude
// order; and JSON is stored in a binary form that Sluice renders as its
// canonical compact text (docs/TYPES.md), so it is compared as JSON.
func mysqlOracles(cols []myTypeCol) {
	for i := range cols {
		c := &cols[i]
		switch c.name {
		case "c_time6":
			c.oracle = "CAST((ABS(TIME_TO_SEC($c)) * 1000000 + MICROSECOND($c)) * IF($c < TIME '00:00:00', -1, 1) AS SIGNED)"
		case "c_geometry", "c_point":
			c.oracle = "CONCAT(ST_SRID($c), ':', HEX(ST_AsBinary($c, 'axis-order=long-lat')))"
		case "c_json":
			c.kind = "json"
		}
	}
}

func myTypeColumnsMariaDB() []myTypeCol {
	maxDec := strings.Repeat("9", 35) + "." + strings.Repeat("9", 30)
	return []myTypeCol{
		{"c_tinyint", "tinyint", "int", myText, []string{"-128", "127", "0", "-1"}},
		{"c_tinyint_u", "tinyint unsigned", "int", myText, []string{"0", "255", "128", "1"}},
		{"c_smallint", "smallint", "int", myText, []string{"-32768", "32767", "0"}},
		{"c_smallint_u", "smallint unsigned", "int", myText, []string{"0", "65535", "32768"}},
		{"c_mediumint", "mediumint", "int", myText, []string{"-8388608", "8388607", "-1"}},
		{"c_mediumint_u", "mediumint unsigned", "int", myText, []string{"0", "16777215", "8388608"}},
		{"c_int", "int", "int", myText, []string{"-2147483648", "2147483647", "0"}},
		{"c_int_u", "int unsigned", "int", myText, []string{"0", "4294967295", "2147483648"}},
		{"c_bigint", "bigint", "int", myText, []string{"-9223372036854775808", "9223372036854775807", "0", "-1"}},
		{"c_bigint_u", "bigint unsigned", "dec:0", myText, []string{"18446744073709551615", "0", "9223372036854775808", "9223372036854775807"}},
		{"c_decimal", "decimal(65,30)", "dec:30", myText, []string{maxDec, "-" + maxDec, "0", "0.000000000000000000000000000001", "-1.5"}},
		{"c_decimal_u", "decimal(10,2) unsigned", "dec:2", myText, []string{"0", "99999999.99", "0.01"}},
		// FLOAT prints 6 digits; as a DOUBLE, every digit of its value.
		{"c_float", "float", "float32", "($c * 1e0)", []string{"0.1", "3.4028234e38", "-1.17549435e-38", "16777217", "1e-45", "-2.5"}},
		{"c_double", "double", "float64", myText, []string{"0.1", "1.7976931348623157e308", "-2.2250738585072014e-308", "5e-324", "1e0/3", "9007199254740993"}},
		{"c_bit1", "bit(1)", "bool", "IF($c = b'1', 'true', 'false')", []string{"b'0'", "b'1'"}},
		{"c_bit64", "bit(64)", "bits", "CAST($c+0 AS CHAR)", []string{"b'0'", "0xFFFFFFFFFFFFFFFF", "b'1'", "0x8000000000000000", "0x0102030405060708"}},
		{"c_char", "char(10)", "string", "$c", []string{"''", "'abc'", "'é🎉 '", "' x'"}},
		{"c_varchar", "varchar(50)", "string", "$c", []string{"''", "'emoji 🎉🎉 and ñ'", "REPEAT('🎉', 50)", "' lead and trail '", "'NULL'", "'日本語'"}},
		{"c_text", "text", "string", "$c", []string{"''", "REPEAT('é🎉x', 3000)", "'quote '' \" backslash \\\\ tab\\t newline\\n end'", "'👨\u200d👩\u200d👧'"}},
		{"c_latin1", "varchar(20) CHARACTER SET latin1", "string", "$c", []string{"'café'", "'€ and ÿ'", "''"}},
		{"c_binary", "binary(4)", "bytes", "HEX($c)", []string{"'ab'", "X'00FF'", "''", "'abcd'", "X'00000000'"}},
		{"c_varbinary", "varbinary(20)", "bytes", "HEX($c)", []string{"X'00'", "X'FF00FF'", "''", "X'0000'"}},
		{"c_blob", "blob", "bytes", "HEX($c)", []string{"REPEAT(X'00FF80', 1000)", "''", "X'C3A9'"}},
		{"c_date", "date", "days", "IF($c = '0000-00-00', '-2147483648', CAST(DATEDIFF($c, '1970-01-01') AS CHAR))",
			[]string{"'1970-01-01'", "'1969-12-31'", "'1000-01-01'", "'9999-12-31'", "'2024-02-29'", "'0000-00-00'"}},
		{"c_datetime", "datetime", "int",
			"IF($c = '0000-00-00 00:00:00', '-9223372036854775808', CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', $c) DIV 1000 AS CHAR))",
			[]string{"'1970-01-01 00:00:00'", "'1969-12-31 23:59:59'", "'9999-12-31 23:59:59'", "'2024-02-29 12:34:56'", "'0000-00-00 00:00:00'"}},
		{"c_datetime3", "datetime(3)", "int",
			"CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', $c) DIV 1000 AS CHAR)",
			[]string{"'1969-12-31 23:59:59.999'", "'2024-02-29 12:34:56.789'", "'1000-01-01 00:00:00.001'"}},
		{"c_datetime6", "datetime(6)", "int",
			"IF($c = '0000-00-00 00:00:00', '-9223372036854775808', CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', $c) AS CHAR))",
			[]string{"'1970-01-01 00:00:00'", "'1969-12-31 23:59:59.999999'", "'1000-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'",
				"'2024-02-29 12:34:56.123456'", "'0000-00-00 00:00:00'"}},
		{"c_timestamp6", "timestamp(6) NULL", "string",
			"IF($c = '0000-00-00 00:00:00', '1970-01-01T00:00:00.000000Z', DATE_FORMAT($c, '%Y-%m-%dT%H:%i:%s.%fZ'))",
			[]string{"'1970-01-01 00:00:01'", "'2038-01-19 03:14:07.999999'", "'2024-02-29 12:34:56.123456'", "'0000-00-00 00:00:00'"}},
		{"c_timestamp", "timestamp NULL", "string",
			"IF($c = '0000-00-00 00:00:00', '1970-01-01T00:00:00Z', DATE_FORMAT($c, '%Y-%m-%dT%H:%i:%sZ'))",
			[]string{"'2001-02-03 04:05:06'", "'0000-00-00 00:00:00'"}},
		{"c_time6", "time(6)", "int", "CAST(TIME_TO_SEC($c) * 1000000 AS SIGNED)",
			[]string{"'00:00:00'", "'-838:59:59'", "'838:59:59'", "'-00:00:00.000001'", "'24:00:00'", "'123:45:56.5'", "'-12:00:00.25'"}},
		{"c_year", "year", "int", "CAST($c+0 AS CHAR)", []string{"1901", "2155", "0", "2024"}},
		{"c_enum", "enum('small','medium','large','x-large','é')", "string", myText, []string{"'small'", "'é'", "''", "'x-large'"}},
		{"c_set", "set('a','b','c','d')", "string", myText, []string{"''", "'a,d'", "'d,a,b'", "'a,b,c,d'"}},
		{"c_json", "json", "string", "$c", []string{"'{\"b\": 1,  \"a\": [1, 2.50]}'", "'[]'", "'\"é🎉\"'", "'null'", "'  {\"x\" : 1}  '"}},
		{"c_geometry", "geometry", "geometry", "CONCAT(ST_SRID($c), ':', HEX(ST_AsBinary($c)))", []string{
			"ST_GeomFromText('POINT(1 2)', 4326)", "ST_GeomFromText('LINESTRING(0 0,1 1,2 5)')",
			"ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))', 3857)"}},
		{"c_point", "point", "geometry", "CONCAT(ST_SRID($c), ':', HEX(ST_AsBinary($c)))", []string{"ST_GeomFromText('POINT(-1.5 1e300)')", "POINT(0, 0)"}},
	}
}

// TestMySQLTypeMatrix checks every common type end to end on MariaDB and
// MySQL: the same rows read by the snapshot (op r) and from the binlog
// (op c) must decode to identical values, equal to what the server says
// they are.
func TestMySQLTypeMatrix(t *testing.T) {
	forMyServers(t, func(t *testing.T, _ myServerCase, m myServer) { testMySQLTypeMatrix(t, m) })
}

func testMySQLTypeMatrix(t *testing.T, m myServer) {
	k, r := sharedKafka(t), sharedRegistry(t)
	dbname, db := myDB(t, m)
	name := testName(t)
	ctx := context.Background()
	cols := myTypeColumns(myFlavorMariaDB(t, db))
	// Zero dates and invalid enum values need a permissive sql_mode.
	myExec(t, db, "SET SESSION sql_mode = ''")

	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE types (id int PRIMARY KEY")
	nrows := 0
	for _, c := range cols {
		fmt.Fprintf(&ddl, ", %s %s", c.name, c.typ)
		nrows = max(nrows, len(c.vals))
	}
	ddl.WriteString(") CHARACTER SET utf8mb4")
	myExec(t, db, ddl.String())
	nrows++ // the all-NULL row
	insert := func(id, row int) {
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO types VALUES (%d", id)
		for _, c := range cols {
			if row == nrows-1 {
				b.WriteString(", NULL")
			} else {
				fmt.Fprintf(&b, ", %s", c.vals[row%len(c.vals)])
			}
		}
		b.WriteString(")")
		myExec(t, db, b.String())
	}
	const streamOffset = 1000
	for i := range nrows {
		insert(i+1, i)
	}

	cfg := harness.WriteConfig(t, myConfig(name, m.RootDSN(""), dbname, myServerID(), k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 90*time.Second)
	for i := range nrows {
		insert(streamOffset+i+1, i)
	}

	topic := name + "." + dbname + ".types"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)
	byID := map[int64]harness.Event{}
	rd.ReadUntil(ctx, t, 120*time.Second, func(evs []harness.Event) bool {
		for _, e := range evs {
			id := num(e.Key["id"])
			if prev, dup := byID[id]; dup && prev.Offset != e.Offset {
				t.Errorf("row %d delivered twice (offsets %d and %d)", id, prev.Offset, e.Offset)
			}
			byID[id] = e
		}
		return len(byID) >= 2*nrows
	})
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	native := typeNativeAfters(t, k.Brokers(), r.URL, topic)
	// The snapshot's table version (from information_schema) and the
	// stream's (from the binlog's TABLE_MAP) are the same version.
	versions := 0
	for _, h := range readRaw(t, k.Brokers(), "_sluice."+name+".schema-history") {
		if strings.Contains(string(h.Value), `"table":{"id":{"Namespace":"`+dbname+`","Name":"types"}`) {
			versions++
		}
	}
	if versions != 1 {
		t.Errorf("schema history has %d versions of the table, want 1 (snapshot and stream describe it alike)", versions)
	}
	oracle := myTypeOracle(t, db, cols)

	checked, nulls := 0, 0
	for i := range nrows {
		id := int64(i + 1)
		snap, okS := byID[id]
		str, okC := byID[id+streamOffset]
		if !okS || !okC {
			t.Fatalf("row %d: snapshot event %v, stream event %v", id, okS, okC)
		}
		if snap.Op() != "r" || str.Op() != "c" {
			t.Errorf("row %d: ops %q and %q, want r and c", id, snap.Op(), str.Op())
		}
		// (a) Snapshot and stream agree, value for value.
		a, b := withoutID(snap.After()), withoutID(str.After())
		if !reflect.DeepEqual(a, b) {
			for _, c := range cols {
				if !reflect.DeepEqual(a[c.name], b[c.name]) {
					t.Errorf("row %d %s (%s): snapshot %#v, stream %#v", id, c.name, c.typ, a[c.name], b[c.name])
				}
			}
		}
		if len(a) != len(cols) {
			t.Errorf("row %d: %d columns in the snapshot event, want %d", id, len(a), len(cols))
		}
		// (b) Each decoded value equals the oracle.
		for _, eid := range []int64{id, id + streamOffset} {
			for j, c := range cols {
				want := oracle[id][j]
				nat, ok := native[eid][c.name]
				if !ok {
					t.Errorf("row %d %s: column missing", eid, c.name)
					continue
				}
				checked++
				if want == nil {
					nulls++
					if nat != nil {
						t.Errorf("row %d %s (%s): SQL NULL arrived as %#v", eid, c.name, c.typ, nat)
					}
					continue
				}
				got, err := myCanon(c.kind, nat)
				if err != nil {
					t.Errorf("row %d %s (%s) inserted as %s: %v", eid, c.name, c.typ, c.vals[i%len(c.vals)], err)
					continue
				}
				if !myOracleEqual(c.kind, got, *want) {
					t.Errorf("row %d %s (%s) inserted as %.60s: got %.120q, want %.120q", eid, c.name, c.typ, c.vals[i%len(c.vals)], got, *want)
				}
			}
		}
	}
	t.Logf("figures: rows=%d (x2: snapshot and stream) columns=%d values_checked=%d (of which NULL %d) snapshot_vs_stream_pairs=%d",
		nrows, len(cols), checked, nulls, nrows*len(cols))
	if want := 2 * nrows * len(cols); checked != want {
		t.Errorf("checked %d values, want %d", checked, want)
	}
}

// myTypeOracle returns, per id, the oracle text of every column (nil:
// NULL), computed by MariaDB.
func myTypeOracle(t *testing.T, db *sql.DB, cols []myTypeCol) map[int64][]*string {
	t.Helper()
	var q strings.Builder
	q.WriteString("SELECT id")
	for _, c := range cols {
		e := strings.ReplaceAll(c.oracle, "$c", c.name)
		fmt.Fprintf(&q, ",\n CASE WHEN %s IS NULL THEN NULL ELSE (%s) END", c.name, e)
	}
	q.WriteString("\nFROM types WHERE id < 1000 ORDER BY id")
	rows, err := db.QueryContext(context.Background(), q.String())
	if err != nil {
		t.Fatalf("oracle query: %v\n%s", err, q.String())
	}
	defer rows.Close()
	out := map[int64][]*string{}
	for rows.Next() {
		var id int64
		vals := make([]sql.NullString, len(cols))
		dest := []any{&id}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		ptrs := make([]*string, len(cols))
		for i, v := range vals {
			if v.Valid {
				s := v.String
				ptrs[i] = &s
			}
		}
		out[id] = ptrs
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// myCanon renders a native decoded value in the oracle's form.
func myCanon(kind string, v any) (string, error) {
	switch kind {
	case "int":
		switch n := v.(type) {
		case int32:
			return strconv.FormatInt(int64(n), 10), nil
		case int64:
			return strconv.FormatInt(n, 10), nil
		}
	case "float32":
		if f, ok := v.(float32); ok {
			return strconv.FormatFloat(float64(f), 'g', -1, 32), nil
		}
	case "float64":
		if f, ok := v.(float64); ok {
			return strconv.FormatFloat(f, 'g', -1, 64), nil
		}
	case "bool":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
	case "bits":
		// io.debezium.data.Bits: little-endian, (n+7)/8 bytes.
		b, ok := v.([]byte)
		if !ok || len(b) != 8 {
			return "", fmt.Errorf("native %#v, want 8 bytes", v)
		}
		var u uint64
		for i := 7; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		return strconv.FormatUint(u, 10), nil
	case "string", "json":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bytes":
		if b, ok := v.([]byte); ok {
			return strings.ToUpper(hex.EncodeToString(b)), nil
		}
	case "days":
		// io.debezium.time.Date: a plain int, no date logicalType.
		if d, ok := v.(int32); ok {
			return strconv.FormatInt(int64(d), 10), nil
		}
	case "geometry":
		g, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("native %#v, want a Geometry record", v)
		}
		wkb, _ := unionValue(g["wkb"]).([]byte) // Point's wkb is optional, Geometry's not
		srid, _ := unionValue(g["srid"]).(int32)
		return fmt.Sprintf("%d:%s", srid, strings.ToUpper(hex.EncodeToString(wkb))), nil
	}
	if scale, ok := strings.CutPrefix(kind, "dec:"); ok {
		if r, isRat := v.(*big.Rat); isRat {
			n, _ := strconv.Atoi(scale)
			return r.FloatString(n), nil
		}
	}
	return "", fmt.Errorf("native value %#v (%T) does not fit kind %s", v, v, kind)
}

// myOracleEqual compares, as numbers where the kind is a float, as JSON
// documents where it is json.
func myOracleEqual(kind, got, want string) bool {
	switch kind {
	case "float32", "float64":
		bits := 64
		if kind == "float32" {
			bits = 32
		}
		g, err1 := strconv.ParseFloat(got, bits)
		w, err2 := strconv.ParseFloat(want, bits)
		return err1 == nil && err2 == nil && (g == w && math.Signbit(g) == math.Signbit(w))
	case "json":
		// The same document, in compact form.
		var g, w any
		var compact bytes.Buffer
		if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil ||
			json.Compact(&compact, []byte(got)) != nil || compact.String() != got {
			return false
		}
		return reflect.DeepEqual(g, w)
	}
	return got == want
}
