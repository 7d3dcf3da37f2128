package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
	"github.com/sluicecdc/sluice/schema"
)

// The type matrix: one column of every common Postgres type, rows of edge
// values, each row read once by the snapshot and once from the stream, and
// every decoded value compared with an oracle that Postgres computes itself.
//
// The oracle of a column is a SQL expression over the column ($c) that
// renders the expected Debezium value as text, from Postgres' own
// functions (extract, encode, array_to_json, date arithmetic, ...), never
// from Sluice's parsers. The decoded value (goavro's standard JSON, via the
// registry) is brought to the same canonical text by typeCanon below.
type typeCol struct {
	name string
	typ  string
	// kind selects the canonicalizer of the decoded value (typeCanon).
	kind string
	// oracle renders the expected canonical text; NULL for a NULL.
	oracle string
	// vals are SQL literals; row i uses vals[i%len(vals)]. The last row of
	// the table is NULL in every column.
	vals []string
}

// The sentinels of docs/TYPES.md.
const (
	dateInf  = `CASE WHEN $c = 'infinity' THEN '2147483647' WHEN $c = '-infinity' THEN '-2147483648' ELSE ($c - date '1970-01-01')::text END`
	tsInfFmt = `CASE WHEN $c = 'infinity' THEN '9223372036854775807' WHEN $c = '-infinity' THEN '-9223372036854775808' ELSE (extract(epoch from $c) * %s)::bigint::text END`
)

func typeMatrixColumns() []typeCol {
	text := `$c::text`
	// format('%s') uses the type's output function, as pgoutput and a
	// SELECT do; a ::text cast does not for char(n) (it strips the padding)
	// and inet (it adds /32).
	output := `format('%s', $c)`
	return []typeCol{
		{"c_int2", "smallint", "int", text, []string{"-32768", "32767", "0", "-1", "1", "12345"}},
		{"c_int4", "int", "int", text, []string{"-2147483648", "2147483647", "0", "-1", "1", "123456789"}},
		{"c_int8", "bigint", "int", text, []string{"-9223372036854775808", "9223372036854775807", "0", "-1", "1", "1234567890123"}},
		{"c_numeric", "numeric(20,5)", "decimal:5", text, []string{
			"-999999999999999.99999", "999999999999999.99999", "0", "-0.00001", "0.00001", "123.4", "-42"}},
		// VariableScaleDecimal: scale and unscaled value of the number
		// without trailing fractional zeros.
		{"c_numeric_any", "numeric", "vsd",
			`scale(trim_scale($c))::text || ':' || trim_scale(trim_scale($c) * power(10::numeric, scale(trim_scale($c))))::text`,
			[]string{
				"-12345678901234567890.123456789012345678901234567890",
				"98765432109876543210987654321098765432109876543210",
				"0.000", "0.000000000000000000000000000001", "1.50", "-100000000000000000000", "-0.5", "127", "128", "-128", "255"}},
		{"c_real", "real", "float4", text, []string{
			"'-Infinity'", "'Infinity'", "'-0'", "'1e-45'", "'NaN'", "'3.4028235e+38'", "0.1", "-1.17549435e-38", "16777217"}},
		{"c_double", "double precision", "float8", text, []string{
			"'-Infinity'", "'Infinity'", "'-0'", "'5e-324'", "'NaN'", "'1.7976931348623157e+308'", "0.1", "-2.2250738585072014e-308", "9007199254740993"}},
		{"c_text", "text", "string", text, []string{
			"''", "'héllo wörld — 日本語 🎉👍🏽 ünïcödé'", `E'quote '' " backslash \\ tab\t newline\n cr\r end'`, "'NULL'", "' '",
			"repeat('é🎉x', 3000)", "'\U0001F468\u200D\U0001F469\u200D\U0001F467'"}},
		{"c_varchar", "varchar(50)", "string", text, []string{
			"''", "'emoji 🎉🎉🎉 and ñ'", "repeat('🎉', 50)", "' leading and trailing '", "'NULL'", "'日本語'"}},
		{"c_char", "char(5)", "string", output, []string{"''", "'abcde'", "'ab'", "'ü🎉'", "' x'", "'NULL'"}},
		{"c_bytea", "bytea", "bytes", `encode($c, 'hex')`, []string{
			`'\x'`, `'\x00'`, `'\xff'`, `'\x00ff00ff7f80'`, `decode(repeat('00ff80', 1000), 'hex')`, `'\x0a0d5c22c3a9'`}},
		{"c_bool", "boolean", "bool", text, []string{"false", "true"}},
		{"c_date", "date", "int", dateInf, []string{
			"'-infinity'", "'infinity'", "'1970-01-01'", "'1969-12-31'", "'4713-11-24 BC'", "'0044-03-15 BC'",
			"'5874897-12-31'", "'2000-02-29'", "'0001-12-31 BC'"}},
		{"c_time", "time", "int", `(extract(epoch from $c) * 1000000)::bigint::text`, []string{
			"'00:00:00'", "'24:00:00'", "'23:59:59.999999'", "'12:34:56.123456'", "'00:00:00.000001'", "'10:15:30.5'"}},
		{"c_time3", "time(3)", "int", `(extract(epoch from $c) * 1000)::bigint::text`, []string{
			"'00:00:00'", "'24:00:00'", "'23:59:59.999'", "'12:34:56.789'", "'00:00:00.001'"}},
		// timetz keeps its offset: local time in microseconds / offset in
		// seconds east of UTC.
		{"c_timetz", "timetz", "timetz",
			`(extract(epoch from $c::time) * 1000000)::bigint::text || '/' || extract(timezone from $c)::int::text`,
			[]string{
				"'00:00:00+00'", "'24:00:00-15:59'", "'23:59:59.999999+15:59:59'", "'10:15:30.123456+05:30:15'",
				"'10:15:30.5-03'", "'12:00:00-00:00:15'", "'01:00:00+05'", "'24:00:00+00'", "'00:00:00.000001-01'"}},
		{"c_timestamp", "timestamp", "int", fmt.Sprintf(tsInfFmt, "1000000"), []string{
			"'-infinity'", "'infinity'", "'1970-01-01 00:00:00'", "'1969-12-31 23:59:59.999999'", "'4713-11-24 00:00:00 BC'",
			"'0044-03-15 10:00:00.000001 BC'", "'2024-02-29 12:34:56.123456'", "'294247-01-10 04:00:54.775806'"}},
		{"c_timestamp3", "timestamp(3)", "int", fmt.Sprintf(tsInfFmt, "1000"), []string{
			"'-infinity'", "'infinity'", "'1970-01-01 00:00:00'", "'1969-12-31 23:59:59.999'", "'4713-11-24 00:00:00 BC'",
			"'0001-01-01 00:00:00'", "'2024-02-29 12:34:56.789'", "'294247-01-10 04:00:54.775'"}},
		// timestamptz is an ISO-8601 UTC string: compared as microseconds
		// since the epoch, a numeric as the largest do not fit a bigint.
		// Days and time of day separately: past 1970 + 2^63 µs
		// (294247 AD) extract(epoch) rounds to milliseconds.
		{"c_timestamptz", "timestamptz", "timestamptz",
			`CASE WHEN $c = 'infinity' THEN 'infinity' WHEN $c = '-infinity' THEN '-infinity'
			 ELSE (((($c AT TIME ZONE 'UTC')::date - date '1970-01-01')::numeric * 86400000000) +
			       (extract(epoch from ($c AT TIME ZONE 'UTC')::time) * 1000000)::bigint)::text END`,
			[]string{
				"'-infinity'", "'infinity'", "'1970-01-01 00:00:00+00'", "'1969-12-31 23:59:59.999999+00'",
				"'4713-11-24 00:00:00+00 BC'", "'0001-01-01 00:30:00+01'", "'2024-01-02 03:04:05.123456+05:30'",
				"'294276-12-31 23:59:59.999999+00'", "'10000-01-01 00:00:00.5+00'"}},
		// Debezium's string form, every component present, from extract's
		// own split of months and time. From PostgreSQL 17 the two extremes
		// are the intervals -infinity and infinity (extract gives NULL),
		// sent as Postgres prints them.
		{"c_interval", "interval", "string",
			`CASE WHEN NOT isfinite($c) THEN $c::text ELSE 'P' || extract(year from $c)::text || 'Y' || extract(month from $c)::text || 'M' || extract(day from $c)::text || 'DT' ||
			 extract(hour from $c)::text || 'H' || extract(minute from $c)::text || 'M' || trim_scale(extract(second from $c))::text || 'S' END`,
			[]string{
				"'-178956970 years -8 months -2147483647 days -2562047788:00:54.775807'",
				"'178956970 years 7 months 2147483647 days 2562047788:00:54.775807'",
				"'0'", "'-1 year -2 months +3 days -04:05:06.789'", "'1 year 2 months 3 days 04:05:06.789'",
				"'-0.5 sec'", "'1 year -1 month'", "'100 hours 90 minutes'", "'0.000001 sec'"}},
		{"c_uuid", "uuid", "string", text, []string{
			"'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
			"'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'{123e4567-e89b-12d3-a456-426614174000}'"}},
		{"c_json", "json", "string", text, []string{
			"'{}'", `'{"a":{"b":[1,2,{"c":null}]},"d":"é🎉"}'`, `'  {"x" : 1,  "x": 2}  '`, "'null'",
			`'"str\u00e9"'`, "'[1, 2.50, -3e10]'", `'{"deep":{"deeper":{"deepest":[[],[{}]]}}}'`}},
		{"c_jsonb", "jsonb", "string", text, []string{
			"'[]'", `'{"a":{"b":[1,2,{"c":null}]},"d":"é🎉"}'`, `'{"x":1,"x":2}'`, "'null'",
			`'"str\u00e9"'`, "'[1, 2.50, -3e10]'", `'{"deep":{"deeper":{"deepest":[[],[{}]]}}}'`}},
		{"c_int_array", "int[]", "json", `array_to_json($c)::text`, []string{
			"'{}'", "'{1,NULL,-2147483648,2147483647}'", "'{NULL}'", "'{0}'", "'{1,2,3}'"}},
		{"c_text_array", "text[]", "json", `array_to_json($c)::text`, []string{
			"'{}'", `'{"a b","x\"y",NULL,"NULL"}'`, `'{""}'`, `'{"é🎉","{}",",","back\\slash"," "}'`, "'{NULL,NULL}'", `'{null,"null",Null}'`}},
		{"c_enum", "mood", "string", text, []string{"'sad'", "'happy'", "'ok'", "'with space'", "'ünï'"}},
		{"c_inet", "inet", "string", output, []string{
			"'0.0.0.0/0'", "'255.255.255.255'", "'192.168.1.5/24'", "'::1'", "'2001:db8::1/64'", "'::ffff:1.2.3.4'", "'10.1.2.3/32'"}},
		{"c_cidr", "cidr", "string", output, []string{"'0.0.0.0/0'", "'10.0.0.0/8'", "'192.168.1.0/24'", "'2001:db8::/32'", "'::/0'", "'10.1.2.3/32'"}},
		{"c_macaddr", "macaddr", "string", output, []string{"'00:00:00:00:00:00'", "'ff:ff:ff:ff:ff:ff'", "'08:00:2b:01:02:03'", "'08-00-2B-01-02-0A'"}},
		{"c_money", "money", "decimal:2", `($c::numeric)::text`, []string{
			"'-92233720368547758.08'", "'92233720368547758.07'", "'0'", "'-0.01'", "'1234.56'", "'0.99'"}},
		{"c_bit1", "bit(1)", "bool", `($c = B'1')::text`, []string{"'0'", "'1'"}},
		// io.debezium.data.Bits: Java's BitSet.toByteArray, i.e. the bits as
		// an integer (rightmost bit lowest) in little-endian bytes up to the
		// highest non-zero byte.
		{"c_bit12", "bit(12)", "bytes",
			`CASE WHEN $c::int = 0 THEN '' WHEN $c::int < 256 THEN lpad(to_hex($c::int), 2, '0')
			 ELSE lpad(to_hex($c::int & 255), 2, '0') || lpad(to_hex($c::int >> 8), 2, '0') END`,
			[]string{"'000000000000'", "'111111111111'", "'100000000001'", "'000000000001'", "'000100000000'", "'101010101010'", "'000010000000'"}},
		{"c_varbit", "varbit(20)", "string", text, []string{"''", "'0'", "'1'", "'01'", "'10100000000000000001'", "'00000000000000000000'"}},
		// hstore is io.debezium.data.Json: a compact object in hstore's
		// own key order, NULL values as null, {} when empty.
		{"c_hstore", "hstore", "string",
			`CASE WHEN $c IS NOT NULL THEN '{' || coalesce((SELECT string_agg(to_json(key)::text || ':' || coalesce(to_json(value)::text, 'null'), ',') FROM each($c)), '') || '}' END`,
			[]string{"''", "'a=>1, b=>NULL'", `'"q\"k"=>"back\\slash", "<&>"=>"é 😀", "NULL"=>"NULL"'`, "'x=>\"\"'"}},
		{"c_ltree", "ltree", "string", text, []string{"'Top.Science.Astronomy'", "''", "'a'"}},
	}
}

// TestPostgresTypeMatrix checks every common type end to end: the same rows
// read by the snapshot (op r) and from the stream (op c) must decode to
// identical values, equal to what Postgres says they are.
func TestPostgresTypeMatrix(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx := context.Background()
	cols := typeMatrixColumns()
	if pg.Major < 15 {
		// Before PostgreSQL 15 the server cannot print (and so cannot
		// send) an interval of more than 2^31-1 hours: the extremes it
		// can.
		for i := range cols {
			for j, v := range cols[i].vals {
				cols[i].vals[j] = strings.NewReplacer(
					"-2562047788:00:54.775807", "-2147483647:59:59.999999",
					"2562047788:00:54.775807", "2147483647:59:59.999999").Replace(v)
			}
		}
	}

	exec(t, db, `CREATE EXTENSION hstore`)
	exec(t, db, `CREATE EXTENSION ltree`)
	exec(t, db, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'with space', 'ünï')`)
	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE types (id int PRIMARY KEY")
	nrows := 0
	for _, c := range cols {
		fmt.Fprintf(&ddl, ", %s %s", c.name, c.typ)
		nrows = max(nrows, len(c.vals))
	}
	ddl.WriteString(")")
	exec(t, db, ddl.String())
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
		exec(t, db, b.String())
	}
	const streamOffset = 1000
	for i := range nrows {
		insert(i+1, i)
	}

	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)
	for i := range nrows {
		insert(streamOffset+i+1, i)
	}

	topic := name + ".public.types"
	rd := harness.NewReader(t, k.Brokers(), r.URL, topic)
	byID := map[int64]harness.Event{}
	rd.ReadUntil(ctx, t, 90*time.Second, func(evs []harness.Event) bool {
		for _, e := range evs {
			id := num(e.Key["id"])
			if prev, dup := byID[id]; dup && prev.Offset != e.Offset {
				t.Errorf("row %d delivered twice (offsets %d and %d)", id, prev.Offset, e.Offset)
			}
			byID[id] = e
		}
		return len(byID) >= 2*nrows
	})
	if code := p.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}

	// The same records decoded to goavro's native form, where a union says
	// which branch it holds: standard JSON writes a float NaN as null, so
	// only the native form tells NaN from NULL.
	native := typeNativeAfters(t, k.Brokers(), r.URL, topic)

	// The oracle, computed once per source row.
	oracle := typeOracle(t, db, cols)

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
		for _, ev := range []harness.Event{snap, str} {
			eid := num(ev.Key["id"])
			for j, c := range cols {
				want := oracle[id][j]
				got, present := ev.After()[c.name]
				nat, natOK := native[eid][c.name]
				if !present || !natOK {
					t.Errorf("row %d %s: column missing (json %v, native %v)", eid, c.name, present, natOK)
					continue
				}
				checked++
				if want == nil {
					nulls++
					if got != nil || nat != nil {
						t.Errorf("row %d %s (%s): SQL NULL arrived as %#v (native %#v)", eid, c.name, c.typ, got, nat)
					}
					continue
				}
				if nat == nil {
					t.Errorf("row %d %s (%s): %q arrived as null", eid, c.name, c.typ, *want)
					continue
				}
				if err := typeCompare(c.kind, *want, got, nat); err != nil {
					t.Errorf("row %d %s (%s) inserted as %s: %v", eid, c.name, c.typ, c.vals[i%len(c.vals)], err)
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

func withoutID(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "id" {
			out[k] = v
		}
	}
	return out
}

// typeOracle returns, per id, the oracle text of every column (nil: NULL).
func typeOracle(t *testing.T, db *pgx.Conn, cols []typeCol) map[int64][]*string {
	t.Helper()
	var q strings.Builder
	q.WriteString("SELECT id")
	for _, c := range cols {
		e := strings.ReplaceAll(c.oracle, "$c", c.name)
		fmt.Fprintf(&q, ",\n CASE WHEN %s IS NULL THEN NULL ELSE (%s) END", c.name, e)
	}
	q.WriteString("\nFROM types ORDER BY id")
	rows, err := db.Query(context.Background(), q.String())
	if err != nil {
		t.Fatalf("oracle query: %v\n%s", err, q.String())
	}
	defer rows.Close()
	out := map[int64][]*string{}
	for rows.Next() {
		var id int64
		vals := make([]*string, len(cols))
		dest := []any{&id}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		out[id] = vals
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Both copies of a row are the same values.
	for id, v := range out {
		if id > 1000 && !reflect.DeepEqual(v, out[id-1000]) {
			t.Fatalf("setup: rows %d and %d differ in SQL", id-1000, id)
		}
	}
	return out
}

// typeNativeAfters decodes every record of topic with goavro's native
// codec, returning per key id the after image's fields (nil: the null
// branch; otherwise the branch's value).
func typeNativeAfters(t *testing.T, brokers []string, registryURL, topic string) map[int64]map[string]any {
	t.Helper()
	reg, err := schema.NewRegistry(schema.RegistryOptions{URL: registryURL})
	if err != nil {
		t.Fatal(err)
	}
	dec := schema.NewDecoder(reg)
	ctx := context.Background()
	out := map[int64]map[string]any{}
	for _, rec := range readRaw(t, brokers, topic) {
		if rec.Value == nil {
			continue
		}
		kv, err := dec.Native(ctx, rec.Key)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dec.Native(ctx, rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		id := nativeInt(kv.(map[string]any)["id"])
		after, _ := unionValue(v.(map[string]any)["after"]).(map[string]any)
		fields := map[string]any{}
		for k, f := range after {
			fields[k] = unionValue(f)
		}
		out[id] = fields
	}
	return out
}

func unionValue(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return v
}

func nativeInt(v any) int64 {
	switch n := unionValue(v).(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	}
	return -1
}

// typeCompare compares the oracle text with the decoded value: JSON is the
// standard-JSON value (json.Number for numbers), nat the native one.
func typeCompare(kind, want string, js, nat any) error {
	switch kind {
	case "float4", "float8":
		bits := 64
		if kind == "float4" {
			bits = 32
		}
		w, err := strconv.ParseFloat(want, bits)
		if err != nil {
			return fmt.Errorf("oracle %q: %v", want, err)
		}
		var g float64
		switch n := nat.(type) {
		case float32:
			g = float64(n)
		case float64:
			g = n
		default:
			return fmt.Errorf("native value %T, want a float", nat)
		}
		if bits == 32 {
			if _, ok := nat.(float32); !ok {
				return fmt.Errorf("native value %T, want float32", nat)
			}
		}
		// Standard JSON: null for NaN, ±1e999 for infinities.
		if js == nil {
			if !math.IsNaN(g) {
				return fmt.Errorf("JSON null for %v", g)
			}
		} else {
			n, ok := js.(json.Number)
			if !ok {
				return fmt.Errorf("JSON %#v, want a number", js)
			}
			jv, err := strconv.ParseFloat(n.String(), bits)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("JSON %s: %v", n, err)
			}
			if !sameFloat(jv, g) {
				return fmt.Errorf("JSON %s and native %v disagree", n, g)
			}
		}
		if !sameFloat(w, g) {
			return fmt.Errorf("got %v, want %s (%v)", g, want, w)
		}
		return nil
	}
	if scale, ok := strings.CutPrefix(kind, "decimal:"); ok {
		// The decimal logical type decodes natively to a *big.Rat.
		r, isRat := nat.(*big.Rat)
		if !isRat {
			return fmt.Errorf("native value %T, want *big.Rat", nat)
		}
		if n, _ := strconv.Atoi(scale); r.FloatString(n) != want {
			return fmt.Errorf("native %s, want %s", r.FloatString(n), want)
		}
	}
	got, err := typeCanon(kind, js)
	if err != nil {
		return fmt.Errorf("%v (decoded %#v)", err, js)
	}
	if kind == "json" {
		var v any
		d := json.NewDecoder(strings.NewReader(want))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("oracle %q: %v", want, err)
		}
		want = canonJSON(v)
	}
	if got != want {
		return fmt.Errorf("got %q, want %q (decoded %#v)", got, want, js)
	}
	return nil
}

// sameFloat is equality that tells -0 from 0 and holds for NaN.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b && math.Signbit(a) == math.Signbit(b)
}

var (
	// Java's ISO_OFFSET_TIME as Sluice writes it: fraction digits only as
	// needed, Z only for +00:00, offset seconds only when not zero.
	reTimetz = regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)(?:\.(\d{0,5}[1-9]))?(?:(Z)|([+-])(\d\d):(\d\d)(?::(\d\d))?)$`)
	// ISO-8601 UTC, the fraction padded to timestamptz's default precision
	// 6, a sign on years before 0 and after 9999 (ISO_LOCAL_DATE).
	reTimestamptz = regexp.MustCompile(`^([+-]?)(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z$`)
)

// typeCanon renders a decoded standard-JSON value in the oracle's form.
func typeCanon(kind string, v any) (string, error) {
	switch kind {
	case "int":
		n, ok := v.(json.Number)
		if !ok {
			return "", errors.New("not a number")
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return "", fmt.Errorf("not an integer: %v", err)
		}
		return n.String(), nil
	case "string":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("not a string")
		}
		return s, nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return "", errors.New("not a boolean")
		}
		return strconv.FormatBool(b), nil
	case "bytes":
		b, err := jsonBytes(v)
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	case "decimal:2", "decimal:5":
		// goavro's standard JSON writes a decimal as its bytes (the
		// unscaled two's-complement value); the scale is the column's.
		b, err := jsonBytes(v)
		if err != nil {
			return "", err
		}
		scale, _ := strconv.Atoi(strings.TrimPrefix(kind, "decimal:"))
		return decimalString(twosComplement(b), scale), nil
	case "vsd":
		m, ok := v.(map[string]any)
		if !ok || len(m) != 2 {
			return "", errors.New("not a {scale, value} record")
		}
		scale, ok := m["scale"].(json.Number)
		if !ok {
			return "", errors.New("scale is not a number")
		}
		b, err := jsonBytes(m["value"])
		if err != nil {
			return "", err
		}
		return scale.String() + ":" + twosComplement(b).String(), nil
	case "json":
		return canonJSON(v), nil
	case "timetz":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("not a string")
		}
		m := reTimetz.FindStringSubmatch(s)
		if m == nil {
			return "", fmt.Errorf("%q is not an ISO-8601 offset time as documented", s)
		}
		h, mi, sec := atoi(m[1]), atoi(m[2]), atoi(m[3])
		if mi > 59 || sec > 59 || h > 24 || (h == 24 && (mi != 0 || sec != 0 || m[4] != "")) {
			return "", fmt.Errorf("%q: clock out of range", s)
		}
		frac := atoi((m[4] + "000000")[:6])
		off := 0
		if m[5] != "Z" {
			off = atoi(m[7])*3600 + atoi(m[8])*60
			if m[9] != "" {
				if m[9] == "00" {
					return "", fmt.Errorf("%q: offset seconds written although zero", s)
				}
				off += atoi(m[9])
			}
			if off == 0 {
				return "", fmt.Errorf("%q: +00:00 must be Z", s)
			}
			if m[6] == "-" {
				off = -off
			}
		}
		us := int64((h*60+mi)*60+sec)*1_000_000 + int64(frac)
		return fmt.Sprintf("%d/%d", us, off), nil
	case "timestamptz":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("not a string")
		}
		if s == "infinity" || s == "-infinity" {
			return s, nil
		}
		m := reTimestamptz.FindStringSubmatch(s)
		if m == nil {
			return "", fmt.Errorf("%q is not an ISO-8601 UTC timestamp as documented", s)
		}
		y := int64(atoi(m[2]))
		switch {
		case m[1] == "+" && y <= 9999, m[1] == "" && y > 9999, len(m[2]) > 4 && m[2][0] == '0':
			return "", fmt.Errorf("%q: year sign or digits not as ISO_LOCAL_DATE writes them", s)
		case m[1] == "-":
			y = -y
		}
		mo, d, hh, mi, ss := atoi(m[3]), atoi(m[4]), atoi(m[5]), atoi(m[6]), atoi(m[7])
		tm := time.Date(int(y), time.Month(mo), d, hh, mi, ss, 0, time.UTC)
		if int64(tm.Year()) != y || int(tm.Month()) != mo || tm.Day() != d || tm.Hour() != hh || tm.Minute() != mi || tm.Second() != ss {
			return "", fmt.Errorf("%q: not a valid date and time", s)
		}
		us := new(big.Int).Mul(big.NewInt(tm.Unix()), big.NewInt(1_000_000))
		us.Add(us, big.NewInt(int64(atoi(m[8]))))
		return us.String(), nil
	}
	return "", fmt.Errorf("unknown kind %q", kind)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1 << 31
	}
	return n
}

// jsonBytes turns goavro's standard-JSON bytes (a string whose runes are
// the byte values) back into bytes.
func jsonBytes(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("bytes are not a JSON string")
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("bytes string holds rune %U", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// decimalString renders unscaled × 10^-scale with exactly scale fraction
// digits, as Postgres prints numeric(p,s) and money::numeric.
func decimalString(unscaled *big.Int, scale int) string {
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	s := digits
	if scale > 0 {
		s = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// twosComplement reads a big-endian two's-complement integer (empty: 0).
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}

func canonJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("!%v", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// TestPostgresUnrepresentableValue: numeric NaN has no decimal
// representation. Sluice must stop with an error naming the table, the
// column and the value, deliver what came before, never deliver the NaN
// row, and not checkpoint past it, so a restart fails the same way.
func TestPostgresUnrepresentableValue(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx := context.Background()
	exec(t, db, `CREATE TABLE ledger (id int PRIMARY KEY, amount numeric)`)
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "msg=streaming", 60*time.Second)

	exec(t, db, `INSERT INTO ledger VALUES (1, 1)`)
	var lsnText, xid string
	if err := db.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnText); err != nil {
		t.Fatal(err)
	}
	lsnBefore, err := checkpoint.ParseLSN(lsnText)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger VALUES (2, 'NaN')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `SELECT xid(pg_current_xact_id())::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	checkFailure := func(p *harness.Process, run string) {
		t.Helper()
		if code := p.Wait(90 * time.Second); code != 1 {
			t.Fatalf("%s: exit code %d, want 1", run, code)
		}
		out := p.Output()
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "NaN") {
				line = l
			}
		}
		for _, want := range []string{"ledger", "amount", "NaN"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: the error does not name %q:\n%s", run, want, tailLines(out, 15))
			}
		}
		t.Logf("%s: %s", run, strings.TrimSpace(line))
	}
	checkFailure(p, "first run")

	// The exact commit LSN of the NaN transaction, from the slot itself:
	// the final LSN in its pgoutput BEGIN message.
	slot := "sluice_" + name
	nanCommit := txnCommitLSN(t, db, slot, slot, xid)
	checkCP := func(run string) checkpoint.LSN {
		t.Helper()
		cp := storedCheckpoint(t, k.Brokers(), name)
		if cp == nil {
			t.Fatalf("%s: no checkpoint stored", run)
		}
		// A resume position at or before the commit record replays the
		// transaction; anything after it would skip the NaN row.
		if cp.Position.LSN > nanCommit {
			t.Errorf("%s: checkpoint %s is past the NaN transaction (commit %s)", run, cp.Position.LSN, nanCommit)
		}
		if cp.Position.LSN > lsnBefore {
			// Legitimate only when a heartbeat or keepalive position fell
			// between the LSN read and the NaN commit.
			t.Logf("%s: checkpoint %s is after the WAL position %s read before the NaN insert (still before its commit %s)",
				run, cp.Position.LSN, lsnBefore, nanCommit)
		}
		return cp.Position.LSN
	}
	cp1 := checkCP("first run")

	// A restart resumes before the NaN transaction and fails again.
	p2 := harness.Start(t, nil, "run", "-c", cfg)
	checkFailure(p2, "restart")
	cp2 := checkCP("restart")

	rd := harness.NewReader(t, k.Brokers(), r.URL, name+".public.ledger")
	evs := rd.Quiet(ctx, t, 3*time.Second)
	ones := 0
	for _, e := range evs {
		switch num(e.Key["id"]) {
		case 1:
			ones++
		case 2:
			t.Errorf("the NaN row is in Kafka: %v", e.Value)
		}
	}
	if ones == 0 {
		t.Errorf("the row before the NaN row is not in Kafka (%d events: %q)", len(evs), ops(evs))
	}
	if ones > 1 {
		t.Errorf("the row before the NaN row is in Kafka %d times (exactly-once)", ones)
	}
	t.Logf("figures: lsn_before_nan=%s nan_commit_lsn=%s checkpoint_first_run=%s checkpoint_after_restart=%s events=%q",
		lsnBefore, nanCommit, cp1, cp2, ops(evs))
}

// txnCommitLSN peeks at slot (inactive) with pgoutput and returns the
// commit LSN of transaction xid, from its BEGIN message (Byte1 'B', Int64
// final LSN, Int64 commit time, Int32 xid).
func txnCommitLSN(t *testing.T, db *pgx.Conn, slot, publication, xid string) checkpoint.LSN {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := db.Query(ctx, `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL,
			'proto_version', '1', 'publication_names', $2)`, slot, publication)
		if err == nil {
			var found []checkpoint.LSN
			var data []byte
			_, err = pgx.ForEachRow(rows, []any{&data}, func() error {
				if len(data) == 21 && data[0] == 'B' && strconv.FormatUint(uint64(binary.BigEndian.Uint32(data[17:])), 10) == xid {
					found = append(found, checkpoint.LSN(binary.BigEndian.Uint64(data[1:])))
				}
				return nil
			})
			if err == nil {
				if len(found) != 1 {
					t.Fatalf("slot %s: %d transactions with xid %s", slot, len(found), xid)
				}
				return found[0]
			}
		}
		// The walsender of the process that just exited may still hold
		// the slot for a moment.
		if time.Now().After(deadline) {
			t.Fatalf("peek slot %s: %v", slot, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
