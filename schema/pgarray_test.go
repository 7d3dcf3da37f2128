package schema

import (
	"math"
	"testing"
)

func TestPostgresArrays(t *testing.T) {
	i4, text := pgCol("_int4", -1), pgCol("_text", -1)
	withElem := Column{Name: "v", Type: "_varchar", TypeMod: 14, Elem: &Column{Type: "varchar", TypeMod: -1}}
	moods := Column{Name: "v", Type: "_mood", TypeMod: -1, Elem: &Column{Type: "mood", Kind: "e", Enum: []string{"sad", "happy"}}}
	pgRunCases(t, []pgCase{
		{col: i4, in: "{1,2,NULL}", want: []any{int32(1), int32(2), nil}},
		{col: i4, in: "{}", want: []any{}},
		{col: i4, in: " { 1 , -2 } ", want: []any{int32(1), int32(-2)}},
		{col: i4, in: "{NULL}", want: []any{nil}},
		{col: i4, in: `{"3"}`, want: []any{int32(3)}},
		{col: pgCol("_int2", -1), in: "{-32768,32767}", want: []any{int32(-32768), int32(32767)}},
		{col: pgCol("_int8", -1), in: "{-9223372036854775808}", want: []any{int64(math.MinInt64)}},
		{col: text, in: `{"a b","x\"y",NULL,"NULL"}`, want: []any{"a b", `x"y`, nil, "NULL"}},
		{col: text, in: `{null,NuLl," NULL ",""}`, want: []any{nil, nil, " NULL ", ""}},
		{col: text, in: `{a\,b,c\\d,\NULL}`, want: []any{"a,b", `c\d`, "NULL"}},
		{col: text, in: `{"back\\slash","{braces}"}`, want: []any{`back\slash`, "{braces}"}},
		{col: text, in: `{"a  ",b\ }`, want: []any{"a  ", "b "}},
		{col: text, in: `{é,"😀 x",汉字}`, want: []any{"é", "😀 x", "汉字"}},
		{col: withElem, in: `{abc,"d,e"}`, want: []any{"abc", "d,e"}},
		{col: moods, in: `{sad,happy,NULL}`, want: []any{"sad", "happy", nil}},
		{col: moods, in: `{angry}`, err: errUnrep},
		{col: pgCol("_bpchar", 7), in: `{"ab  "}`, want: []any{"ab  "}},
		{col: pgCol("_float8", -1), in: "{NaN,Infinity,-Infinity,-0,1.5}", want: []any{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 1.5}},
		{col: pgCol("_float4", -1), in: "{0.1}", want: []any{float32(0.1)}},
		{col: pgCol("_bool", -1), in: "{t,f,NULL}", want: []any{true, false, nil}},
		{col: pgCol("_numeric", -1), in: "{1.50,-2,NULL}", want: []any{pgVSD{1, "15"}, pgVSD{0, "-2"}, nil}},
		{col: pgCol("_numeric", -1), in: "{1,NaN}", err: errUnrep},
		{col: pgCol("_numeric", pgNumericMod(5, 2)), in: "{1.50,-2.00}", want: []any{pgDec("1.5"), pgDec("-2")}},
		{col: pgCol("_uuid", -1), in: "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", want: []any{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
		{col: pgCol("_date", -1), in: "{2024-01-02,infinity,NULL}", want: []any{pgDay(2024, 1, 2), pgDay(1970, 1, 1+math.MaxInt32), nil}},
		{col: pgCol("_timestamp", -1), in: `{"1970-01-01 00:00:00.000001"}`, want: []any{int64(1)}},
		{col: pgCol("_timestamp", 3), in: `{"1970-01-01 00:00:01"}`, want: []any{int64(1000)}},
		{col: pgCol("_timestamptz", -1), in: `{"2024-01-02 03:04:05+02",infinity}`, want: []any{"2024-01-02T01:04:05.000000Z", "infinity"}},
		{col: pgCol("_interval", -1), in: `{P1D,PT-1S}`, want: []any{"P0Y0M1DT0H0M0S", "P0Y0M0DT0H0M-1S"}},
		{col: pgCol("_bytea", -1), in: `{"\\x0102",NULL}`, want: []any{[]byte{1, 2}, nil}},
		{col: pgCol("_jsonb", -1), in: `{"{\"a\": 1}"}`, want: []any{`{"a": 1}`}},
		{col: pgCol("_bit", 3), in: `{101,000}`, want: []any{[]byte{5}, []byte{}}},
		{col: pgCol("_point", -1), in: `{"(1,2)"}`, want: []any{map[string]any{
			"x": 1.0, "y": 2.0, "srid": nil,
			"wkb": []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40},
		}}},
		{col: pgCol("_box", -1), in: `{(1,1),(0,0);(2,2),(1,1)}`, want: []any{"(1,1),(0,0)", "(2,2),(1,1)"}},
		{col: pgCol("_int4range", -1), in: `{"[1,3)",empty}`, want: []any{"[1,3)", "empty"}},

		{col: i4, in: "{{1,2},{3,4}}", err: errUnrep},
		{col: i4, in: "{{}}", err: errUnrep},
		{col: i4, in: "[0:1]={1,2}", err: errUnrep},
		{col: i4, in: "[1:2][1:1]={{1},{2}}", err: errUnrep},
		{col: i4, in: "{1,x}", err: errBad},
		{col: i4, in: "{1,2", err: errBad},
		{col: i4, in: "1,2", err: errBad},
		{col: i4, in: "", err: errBad},
		{col: i4, in: "{1,,2}", err: errBad},
		{col: i4, in: "{1,}", err: errBad},
		{col: i4, in: "{,1}", err: errBad},
		{col: text, in: `{"a}`, err: errBad},
		{col: text, in: `{a"b}`, err: errBad},
		{col: text, in: `{"a"b}`, err: errBad},
		{col: text, in: `{a}b}`, err: errBad},
		{col: text, in: `{a\}`, err: errBad},
		{col: text, in: "{\xff}", err: errUnrep},
	})
}
