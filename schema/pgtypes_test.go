package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// pgCase is one text input of one column type and what goavro must decode
// from its encoding (after pgNormalize), or the error it must fail with.
type pgCase struct {
	col  Column
	in   string
	want any
	err  error
}

func pgCol(typ string, typmod int32) Column { return Column{Name: "v", Type: typ, TypeMod: typmod} }

// pgNumericMod is numeric(p,s)'s typmod.
func pgNumericMod(p, s int) int32 { return int32((p<<16)|(s&0x7ff)) + 4 }

var pgCodecs sync.Map // Avro schema JSON -> *goavro.Codec

// pgCodecFor returns goavro's codec for the record {v: ["null", T]}.
func pgCodecFor(t testing.TB, avro any) *goavro.Codec {
	t.Helper()
	rec := map[string]any{"type": "record", "name": "R", "fields": []any{
		map[string]any{"name": "v", "type": []any{"null", avro}},
	}}
	js, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := pgCodecs.Load(string(js)); ok {
		return c.(*goavro.Codec)
	}
	c, err := goavro.NewCodec(string(js))
	if err != nil {
		t.Fatalf("goavro rejects schema %s: %v", js, err)
	}
	pgCodecs.Store(string(js), c)
	return c
}

// pgDecode decodes one record {v: ["null", T]} and returns v normalised.
func pgDecode(t testing.TB, codec *goavro.Codec, buf []byte) any {
	t.Helper()
	native, rest, err := codec.NativeFromBinary(buf)
	if err != nil {
		t.Fatalf("goavro cannot decode % x: %v", buf, err)
	}
	if len(rest) != 0 {
		t.Fatalf("goavro left %d bytes undecoded of % x", len(rest), buf)
	}
	return pgNormalize(native.(map[string]any)["v"])
}

// pgEncode encodes in as the value of {v: ["null", T]}.
func pgEncode(ct ColumnType, in string) ([]byte, error) {
	prefix := []byte("keep")
	buf, err := ct.Append(AppendNullableSome(prefix), []byte(in))
	if err != nil {
		if len(buf) != len(prefix)+1 {
			return nil, fmt.Errorf("Append returned %d bytes on error, want dst unchanged: %w", len(buf), err)
		}
		return nil, err
	}
	if !bytes.HasPrefix(buf, prefix) {
		return nil, errors.New("Append overwrote dst")
	}
	return buf[len(prefix):], nil
}

// pgVSD is a decoded io.debezium.data.VariableScaleDecimal.
type pgVSD struct {
	Scale    int32
	Unscaled string
}

// pgDec parses a decimal for comparison with goavro's *big.Rat.
func pgDec(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// pgNormalize turns goavro's natives into comparable values: union
// wrappers {"type": v} are unwrapped and VariableScaleDecimal records
// become pgVSD.
func pgNormalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for _, inner := range x {
				return pgNormalize(inner)
			}
		}
		if sc, ok := x["scale"].(int32); ok && len(x) == 2 {
			b, _ := x["value"].([]byte)
			return pgVSD{Scale: sc, Unscaled: pgTwosComplement(b).String()}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = pgNormalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pgNormalize(e)
		}
		return out
	}
	return v
}

// pgTwosComplement decodes big-endian two's complement independently of
// the encoder under test.
func pgTwosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

func pgEqual(got, want any) bool {
	switch w := want.(type) {
	case *big.Rat:
		g, ok := got.(*big.Rat)
		return ok && g.Cmp(w) == 0
	case float64:
		g, ok := got.(float64)
		return ok && (g == w && math.Signbit(g) == math.Signbit(w) || math.IsNaN(g) && math.IsNaN(w))
	case float32:
		g, ok := got.(float32)
		return ok && (g == w && math.Signbit(float64(g)) == math.Signbit(float64(w)) || g != g && w != w)
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !pgEqual(g[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k := range w {
			if !pgEqual(g[k], w[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// pgRunCases decodes through the schema with the optional logicalTypes, so
// that temporal values come back typed and are easy to state;
// TestDefaultSchemasDecodeSpecialValues covers the default schemas.
func pgRunCases(t *testing.T, cases []pgCase) {
	t.Helper()
	for _, tc := range cases {
		col := tc.col
		name := col.Type
		if col.TypeMod >= 0 {
			name = fmt.Sprintf("%s(%d)", name, col.TypeMod)
		}
		t.Run(name+"/"+strings.ReplaceAll(tc.in, "/", "|"), func(t *testing.T) {
			ct, err := PostgresColumnType(&col)
			if err != nil {
				t.Fatal(err)
			}
			codec := pgCodecFor(t, WithLogicalTypes(Postgres, ct).Avro)
			buf, err := pgEncode(ct, tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Append(%q) error = %v, want %v", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Append(%q): %v", tc.in, err)
			}
			if got := pgDecode(t, codec, buf); !pgEqual(got, tc.want) {
				t.Errorf("Append(%q) decodes to %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

var (
	errUnrep = ErrPostgresUnrepresentable
	errBad   = ErrPostgresMalformed
)

func TestPostgresScalars(t *testing.T) {
	int2, int4, int8 := pgCol("int2", -1), pgCol("int4", -1), pgCol("int8", -1)
	f4, f8 := pgCol("float4", -1), pgCol("float8", -1)
	text := pgCol("text", -1)
	enum := Column{Name: "v", Type: "mood", Kind: "e", TypeMod: -1, Enum: []string{"sad", "ok", "happy"}}
	pgRunCases(t, []pgCase{
		{col: int2, in: "-32768", want: int32(-32768)},
		{col: int2, in: "32767", want: int32(32767)},
		{col: int2, in: "0", want: int32(0)},
		{col: int2, in: "32768", err: errBad},
		{col: int2, in: "-32769", err: errBad},
		{col: int2, in: "", err: errBad},
		{col: int2, in: "1.0", err: errBad},
		{col: int2, in: " 1", err: errBad},
		{col: int4, in: "-2147483648", want: int32(math.MinInt32)},
		{col: int4, in: "2147483647", want: int32(math.MaxInt32)},
		{col: int4, in: "2147483648", err: errBad},
		{col: int4, in: "abc", err: errBad},
		{col: int8, in: "-9223372036854775808", want: int64(math.MinInt64)},
		{col: int8, in: "9223372036854775807", want: int64(math.MaxInt64)},
		{col: int8, in: "9223372036854775808", err: errBad},
		{col: int8, in: "-9223372036854775809", err: errBad},
		{col: int8, in: "99999999999999999999", err: errBad},
		{col: int8, in: "-", err: errBad},
		{col: pgCol("oid", -1), in: "4294967295", want: int64(4294967295)},
		{col: pgCol("oid", -1), in: "-1", err: errBad},
		{col: f4, in: "1.5", want: float32(1.5)},
		{col: f4, in: "0.1", want: float32(0.1)},
		{col: f4, in: "3.4028235e+38", want: float32(math.MaxFloat32)},
		{col: f4, in: "1e-45", want: float32(math.SmallestNonzeroFloat32)},
		{col: f4, in: "NaN", want: float32(math.NaN())},
		{col: f4, in: "Infinity", want: float32(math.Inf(1))},
		{col: f4, in: "-Infinity", want: float32(math.Inf(-1))},
		{col: f4, in: "-0", want: float32(math.Copysign(0, -1))},
		{col: f4, in: "1e39", err: errBad},
		{col: f8, in: "1.7976931348623157e+308", want: math.MaxFloat64},
		{col: f8, in: "5e-324", want: math.SmallestNonzeroFloat64},
		{col: f8, in: "0.30000000000000004", want: 0.30000000000000004},
		{col: f8, in: "NaN", want: math.NaN()},
		{col: f8, in: "Infinity", want: math.Inf(1)},
		{col: f8, in: "-Infinity", want: math.Inf(-1)},
		{col: f8, in: "-0", want: math.Copysign(0, -1)},
		{col: f8, in: "0x1p-2", err: errBad},
		{col: f8, in: "inf", err: errBad},
		{col: f8, in: "1_0", err: errBad},
		{col: f8, in: "", err: errBad},
		{col: pgCol("bool", -1), in: "t", want: true},
		{col: pgCol("bool", -1), in: "f", want: false},
		{col: pgCol("bool", -1), in: "true", err: errBad},
		{col: text, in: "", want: ""},
		{col: text, in: "héllo wörld", want: "héllo wörld"},
		{col: text, in: "emoji 😀 and 汉字", want: "emoji 😀 and 汉字"},
		{col: text, in: "a\xffb", err: errUnrep},
		{col: pgCol("varchar", 14), in: "ünïcode", want: "ünïcode"},
		{col: pgCol("bpchar", 8), in: "ab  ", want: "ab  "},
		{col: pgCol("name", -1), in: "pg_class", want: "pg_class"},
		{col: pgCol("char", -1), in: "r", want: "r"},
		{col: pgCol("xml", -1), in: "<a>é</a>", want: "<a>é</a>"},
		{col: pgCol("xml", -1), in: "\xc3", err: errUnrep},
		{col: pgCol("json", -1), in: `{"a": [1, "é"]}`, want: `{"a": [1, "é"]}`},
		{col: pgCol("jsonb", -1), in: `{"a": [1, "😀"]}`, want: `{"a": [1, "😀"]}`},
		{col: pgCol("inet", -1), in: "192.168.0.1/24", want: "192.168.0.1/24"},
		{col: pgCol("cidr", -1), in: "2001:db8::/32", want: "2001:db8::/32"},
		{col: pgCol("macaddr", -1), in: "08:00:2b:01:02:03", want: "08:00:2b:01:02:03"},
		{col: pgCol("macaddr8", -1), in: "08:00:2b:01:02:03:04:05", want: "08:00:2b:01:02:03:04:05"},
		{col: pgCol("uuid", -1), in: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", want: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{col: pgCol("uuid", -1), in: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", want: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"},
		{col: pgCol("uuid", -1), in: "a0eebc999c0b4ef8bb6d6bb9bd380a11", err: errBad},
		{col: pgCol("uuid", -1), in: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g", err: errBad},
		{col: pgCol("bytea", -1), in: `\x`, want: []byte{}},
		{col: pgCol("bytea", -1), in: `\x00ff10`, want: []byte{0, 0xff, 0x10}},
		{col: pgCol("bytea", -1), in: `\xDEADbeef`, want: []byte{0xde, 0xad, 0xbe, 0xef}},
		{col: pgCol("bytea", -1), in: `\000\377`, err: errBad},
		{col: pgCol("bytea", -1), in: `\x0`, err: errBad},
		{col: pgCol("bytea", -1), in: `\xzz`, err: errBad},
		{col: pgCol("bytea", -1), in: ``, err: errBad},
		{col: enum, in: "ok", want: "ok"},
		{col: enum, in: "angry", err: errUnrep},
		{col: enum, in: "", err: errUnrep},
		{col: pgCol("bit", 1), in: "1", want: true},
		{col: pgCol("bit", 1), in: "0", want: false},
		{col: pgCol("bit", 1), in: "01", err: errBad},
		{col: pgCol("bit", 3), in: "101", want: []byte{0x05}},
		{col: pgCol("bit", 8), in: "10000000", want: []byte{0x80}},
		{col: pgCol("bit", 10), in: "1000000001", want: []byte{0x01, 0x02}},
		{col: pgCol("bit", 10), in: "0100000000", want: []byte{0x00, 0x01}},
		{col: pgCol("bit", 4), in: "0000", want: []byte{}},
		{col: pgCol("bit", 3), in: "10", err: errBad},
		{col: pgCol("bit", 3), in: "102", err: errBad},
		{col: pgCol("varbit", -1), in: "0101", want: "0101"},
		{col: pgCol("varbit", 8), in: "", want: ""},
		{col: pgCol("varbit", 8), in: "01a", err: errBad},
		{col: pgCol("point", -1), in: "(1.5,-2)", want: map[string]any{
			"x": 1.5, "y": -2.0, "srid": nil,
			"wkb": []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0},
		}},
		{col: pgCol("point", -1), in: "(1.5)", err: errBad},
		{col: pgCol("point", -1), in: "(a,b)", err: errBad},
		{col: pgCol("int4range", -1), in: "[1,10)", want: "[1,10)"},
		{col: pgCol("tsvector", -1), in: "'a' 'b'", want: "'a' 'b'"},
		{col: Column{Name: "v", Type: "addr", Kind: "c", TypeMod: -1}, in: `(1,"main st")`, want: `(1,"main st")`},
		{col: pgCol("mystery", -1), in: "\xfe", err: errUnrep},
	})
}

func TestPostgresNumeric(t *testing.T) {
	n102 := pgCol("numeric", pgNumericMod(10, 2))
	n3810 := pgCol("numeric", pgNumericMod(38, 10))
	n52 := pgCol("numeric", pgNumericMod(5, 2))
	nNeg := pgCol("numeric", pgNumericMod(3, -2))
	nBig := pgCol("numeric", pgNumericMod(2, 4))
	vsd := pgCol("numeric", -1)
	money := pgCol("money", -1)
	hundred := strings.Repeat("9", 60) + "." + strings.Repeat("1", 40)
	pgRunCases(t, []pgCase{
		{col: n102, in: "0.00", want: pgDec("0")},
		{col: n102, in: "-12.50", want: pgDec("-12.5")},
		{col: n102, in: "12.5", want: pgDec("12.5")},
		{col: n102, in: "99999999.99", want: pgDec("99999999.99")},
		{col: n102, in: "-99999999.99", want: pgDec("-99999999.99")},
		{col: n102, in: "1.230", want: pgDec("1.23")},
		{col: n102, in: "1.234", err: errUnrep},
		{col: n102, in: "123456789.00", err: errUnrep},
		{col: n3810, in: "1234567890123456789012345678.1234567890", want: pgDec("1234567890123456789012345678.123456789")},
		{col: n3810, in: "-9999999999999999999999999999.9999999999", want: pgDec("-9999999999999999999999999999.9999999999")},
		{col: n3810, in: "0.0000000001", want: pgDec("0.0000000001")},
		{col: n52, in: "1.28", want: pgDec("1.28")},
		{col: n52, in: "-1.28", want: pgDec("-1.28")},
		{col: nNeg, in: "12300", want: pgDec("12300")},
		{col: nBig, in: "0.0012", want: pgDec("0.0012")},
		{col: vsd, in: "0.000", want: pgVSD{0, "0"}},
		{col: vsd, in: "1000", want: pgVSD{0, "1000"}},
		{col: vsd, in: "123.4500", want: pgVSD{2, "12345"}},
		{col: vsd, in: "-0.001", want: pgVSD{3, "-1"}},
		{col: vsd, in: hundred, want: pgVSD{40, strings.Repeat("9", 60) + strings.Repeat("1", 40)}},
		{col: vsd, in: "-" + hundred, want: pgVSD{40, "-" + strings.Repeat("9", 60) + strings.Repeat("1", 40)}},
		{col: vsd, in: "NaN", err: errUnrep},
		{col: vsd, in: "Infinity", err: errUnrep},
		{col: vsd, in: "-Infinity", err: errUnrep},
		{col: n102, in: "NaN", err: errUnrep},
		{col: n102, in: "Infinity", err: errUnrep},
		{col: n102, in: "-Infinity", err: errUnrep},
		{col: vsd, in: "", err: errBad},
		{col: vsd, in: "-", err: errBad},
		{col: vsd, in: "1.", err: errBad},
		{col: vsd, in: ".5", err: errBad},
		{col: vsd, in: "1e5", err: errBad},
		{col: vsd, in: "1.2.3", err: errBad},
		{col: vsd, in: "+1", err: errBad},
		{col: vsd, in: "nan", err: errBad},
		{col: money, in: "$1,234.56", want: pgDec("1234.56")},
		{col: money, in: "-$1,234.56", want: pgDec("-1234.56")},
		{col: money, in: "$0.00", want: pgDec("0")},
		{col: money, in: "$12.5", want: pgDec("12.5")},
		{col: money, in: "-92233720368547758.08", want: pgDec("-92233720368547758.08")},
		{col: money, in: "$92,233,720,368,547,758.07", want: pgDec("92233720368547758.07")},
		{col: money, in: "($5.00)", want: pgDec("-5")},
		{col: money, in: "$92,233,720,368,547,758.08", err: errBad},
		{col: money, in: "$1,23.00", err: errBad},
		{col: money, in: "$,123.00", err: errBad},
		{col: money, in: "$1.234", err: errUnrep},
		{col: money, in: "€1.00", err: errBad},
		{col: money, in: "", err: errBad},
		{col: money, in: "$", err: errBad},
	})
}

// The decimal bytes must be Java's BigInteger.toByteArray: minimal two's
// complement. goavro decodes non-minimal forms too, so check the bytes.
func TestPostgresDecimalBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"0.00", []byte{0}}, {"1.27", []byte{0x7f}}, {"1.28", []byte{0, 0x80}},
		{"-1.28", []byte{0x80}}, {"-1.29", []byte{0xff, 0x7f}}, {"-0.01", []byte{0xff}},
		{"327.67", []byte{0x7f, 0xff}}, {"327.68", []byte{0, 0x80, 0}},
	} {
		ct, _ := PostgresColumnType(&Column{Type: "numeric", TypeMod: pgNumericMod(10, 2)})
		got, err := ct.Append(nil, []byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if want := AppendBytes(nil, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%s: % x, want % x", tc.in, got, want)
		}
	}
	// The int64 fast path and the big.Int path must agree.
	for _, v := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, -256, -257, 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64, math.MaxInt64 / 3, math.MinInt64 / 7} {
		fast := pgAppendInt64Decimal(nil, v)
		slow := pgAppendBigDecimal(nil, big.NewInt(v))
		if !bytes.Equal(fast, slow) {
			t.Errorf("%d: fast % x, big % x", v, fast, slow)
		}
	}
}

func TestPostgresUnavailable(t *testing.T) {
	for _, tc := range []struct {
		col  Column
		want any // nil: no placeholder
	}{
		{pgCol("text", -1), UnavailableValue},
		{pgCol("varchar", 20), UnavailableValue},
		{pgCol("jsonb", -1), UnavailableValue},
		{pgCol("xml", -1), UnavailableValue},
		{pgCol("hstore", -1), `{"` + UnavailableValue + `":"` + UnavailableValue + `"}`}, // as Debezium's hstore placeholder map
		{pgCol("varbit", -1), UnavailableValue},
		{pgCol("bytea", -1), []byte(UnavailableValue)},
		{pgCol("bit", 100), []byte(UnavailableValue)},
		{pgCol("_text", -1), []any{UnavailableValue}},
		{pgCol("_bytea", -1), []any{[]byte(UnavailableValue)}},
		{pgCol("numeric", -1), nil},
		{pgCol("numeric", pgNumericMod(10, 2)), nil},
		{pgCol("int4", -1), nil},
		{pgCol("_int4", -1), unavailableInts(func(b byte) any { return int32(b) })},
		{pgCol("_int8", -1), unavailableInts(func(b byte) any { return int64(b) })},
		{pgCol("_int2", -1), nil},
		{pgCol("_numeric", -1), nil},
		{pgCol("_float8", -1), nil},
		{pgCol("uuid", -1), nil},
		{pgCol("timestamptz", -1), nil},
		{Column{Type: "mood", Kind: "e", Enum: []string{"a"}}, nil},
	} {
		ct, err := PostgresColumnType(&tc.col)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == nil {
			if ct.Unavailable != nil {
				t.Errorf("%s: has a placeholder, want none", tc.col.Type)
			}
			continue
		}
		if ct.Unavailable == nil {
			t.Errorf("%s: no placeholder", tc.col.Type)
			continue
		}
		got := pgDecode(t, pgCodecFor(t, WithLogicalTypes(Postgres, ct).Avro), ct.Unavailable(AppendNullableSome(nil)))
		if !pgEqual(got, tc.want) {
			t.Errorf("%s: placeholder decodes to %#v, want %#v", tc.col.Type, got, tc.want)
		}
	}
}

// unavailableInts is Debezium's integer[]/bigint[] placeholder: the bytes
// of UnavailableValue as elements.
func unavailableInts(conv func(byte) any) []any {
	out := make([]any, len(UnavailableValue))
	for i := range out {
		out[i] = conv(UnavailableValue[i])
	}
	return out
}

func TestPostgresRawTypes(t *testing.T) {
	ct, _ := PostgresColumnType(&Column{Type: "int4", TypeMod: -1})
	if got, err := ct.Append(nil, "42"); err != nil || !bytes.Equal(got, AppendLong(nil, 42)) {
		t.Errorf("string raw: % x, %v", got, err)
	}
	if _, err := ct.Append(nil, 42); !errors.Is(err, ErrPostgresMalformed) {
		t.Errorf("int raw: %v, want ErrPostgresMalformed", err)
	}
	if _, err := PostgresColumnType(nil); err == nil {
		t.Error("nil column accepted")
	}
	if _, err := PostgresColumnType(&Column{Type: "__int4", TypeMod: -1}); err == nil {
		t.Error("array of arrays accepted")
	}
}
