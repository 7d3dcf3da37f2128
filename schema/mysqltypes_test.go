package schema

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// myCase is one raw binlog value of one column and what goavro must decode
// from its encoding (after pgNormalize), or the error it must fail with.
type myCase struct {
	col  Column
	raw  any
	want any
	err  error
}

func myCol(typ string) Column { return Column{Name: "v", Type: typ} }

func myUnsigned(typ string) Column { return Column{Name: "v", Type: typ, Unsigned: true} }

// myEncode encodes raw as the value of {v: ["null", T]}, checking that a
// failing Append leaves dst as it was.
func myEncode(ct ColumnType, raw any) ([]byte, error) {
	prefix := []byte("keep")
	buf, err := ct.Append(AppendNullableSome(prefix), raw)
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

func myRunCases(t *testing.T, cases []myCase) {
	t.Helper()
	for _, tc := range cases {
		col := tc.col
		name := fmt.Sprintf("%s/%T(%s)", col.Type, tc.raw, strings.ReplaceAll(Printable(tc.raw), "/", "|"))
		t.Run(name, func(t *testing.T) {
			ct, err := MySQLColumnType(&col)
			if err != nil {
				t.Fatal(err)
			}
			codec := pgCodecFor(t, WithLogicalTypes(MySQL, ct).Avro)
			buf, err := myEncode(ct, tc.raw)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Append(%#v) error = %v, want %v", tc.raw, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Append(%#v): %v", tc.raw, err)
			}
			if got := pgDecode(t, codec, buf); !pgEqual(got, tc.want) {
				t.Errorf("Append(%#v) decodes to %#v, want %#v", tc.raw, got, tc.want)
			}
		})
	}
}

var (
	myUnrep = ErrMySQLUnrepresentable
	myBad   = ErrMySQLMalformed
)

func TestMySQLIntegers(t *testing.T) {
	myRunCases(t, []myCase{
		{col: myCol("tinyint"), raw: int8(-128), want: int32(-128)},
		{col: myCol("tinyint"), raw: int8(127), want: int32(127)},
		{col: myUnsigned("tinyint"), raw: int8(-1), want: int32(255)}, // the binlog's bits
		{col: myUnsigned("tinyint"), raw: int8(0), want: int32(0)},
		{col: myUnsigned("tinyint"), raw: uint64(200), want: int32(200)},
		{col: myCol("tinyint"), raw: int64(128), err: myBad},
		{col: myCol("smallint"), raw: int16(-32768), want: int32(-32768)},
		{col: myUnsigned("smallint"), raw: int16(-1), want: int32(65535)},
		{col: myCol("mediumint"), raw: int32(-8388608), want: int32(-8388608)},
		{col: myCol("mediumint"), raw: int32(8388607), want: int32(8388607)},
		{col: myUnsigned("mediumint"), raw: int32(-1), want: int32(16777215)}, // sign-extended 24 bits
		{col: myUnsigned("mediumint"), raw: int32(16777215), want: int32(16777215)},
		{col: myCol("mediumint"), raw: int32(8388608), err: myBad},
		{col: myCol("int"), raw: int32(math.MinInt32), want: int32(math.MinInt32)},
		{col: myUnsigned("int"), raw: int32(-1), want: int64(4294967295)},
		{col: myCol("bigint"), raw: int64(math.MinInt64), want: int64(math.MinInt64)},
		{col: myCol("bigint"), raw: int64(math.MaxInt64), want: int64(math.MaxInt64)},
		{col: myCol("bigint"), raw: uint64(math.MaxUint64), err: myBad},
		{col: myUnsigned("bigint"), raw: int64(-1), want: pgDec("18446744073709551615")},
		{col: myUnsigned("bigint"), raw: uint64(math.MaxUint64), want: pgDec("18446744073709551615")},
		{col: myUnsigned("bigint"), raw: int64(math.MinInt64), want: pgDec("9223372036854775808")},
		{col: myUnsigned("bigint"), raw: int64(0), want: pgDec("0")},
		{col: myUnsigned("bigint"), raw: int64(math.MaxInt64), want: pgDec("9223372036854775807")},
		{col: myCol("int"), raw: "1", err: myBad},
		{col: myCol("year"), raw: 2024, want: int32(2024)},
		{col: myCol("year"), raw: 0, want: int32(0)},
		{col: myCol("year"), raw: -1, err: myBad},
	})
}

func TestMySQLNumbers(t *testing.T) {
	d := Column{Name: "v", Type: "decimal", Precision: 10, Scale: 2}
	d65 := Column{Name: "v", Type: "decimal", Precision: 65, Scale: 30}
	big := strings.Repeat("9", 35) + "." + strings.Repeat("9", 30)
	myRunCases(t, []myCase{
		{col: d, raw: "12.34", want: pgDec("12.34")},
		{col: d, raw: "-0.50", want: pgDec("-0.5")},
		{col: d, raw: "0", want: pgDec("0")},
		{col: d, raw: "99999999.99", want: pgDec("99999999.99")},
		{col: d, raw: []byte("1.5"), want: pgDec("1.5")},
		{col: d, raw: "1.234", err: myUnrep},
		{col: d, raw: "1.230", want: pgDec("1.23")},
		{col: d, raw: "123456789.00", err: myUnrep},
		{col: d, raw: "1e5", err: myBad},
		{col: d, raw: "+1", err: myBad},
		{col: d, raw: ".5", err: myBad},
		{col: d, raw: "", err: myBad},
		{col: d65, raw: big, want: pgDec(big)},
		{col: d65, raw: "-" + big, want: pgDec("-" + big)},
		{col: d65, raw: "0.000000000000000000000000000001", want: pgDec("0.000000000000000000000000000001")},
		{col: myCol("float"), raw: float32(0.1), want: float32(0.1)},
		{col: myCol("float"), raw: float32(math.MaxFloat32), want: float32(math.MaxFloat32)},
		{col: myCol("float"), raw: float32(math.Copysign(0, -1)), want: float32(math.Copysign(0, -1))},
		{col: myCol("float"), raw: float64(float32(0.1)), want: float32(0.1)},
		{col: myCol("float"), raw: 0.1, err: myBad},
		{col: myCol("double"), raw: 0.1, want: 0.1},
		{col: myCol("double"), raw: math.SmallestNonzeroFloat64, want: math.SmallestNonzeroFloat64},
		{col: myCol("double"), raw: "0.1", err: myBad},
	})
}

func TestMySQLBits(t *testing.T) {
	b1 := Column{Name: "v", Type: "bit", Length: 1}
	b12 := Column{Name: "v", Type: "bit", Length: 12}
	b64 := Column{Name: "v", Type: "bit", Length: 64}
	myRunCases(t, []myCase{
		{col: b1, raw: int64(1), want: true},
		{col: b1, raw: int64(0), want: false},
		{col: b1, raw: int64(2), err: myBad},
		{col: b12, raw: int64(0), want: []byte{0, 0}},
		{col: b12, raw: int64(1), want: []byte{1, 0}},
		{col: b12, raw: int64(0x801), want: []byte{0x01, 0x08}},
		{col: b12, raw: int64(0xfff), want: []byte{0xff, 0x0f}},
		{col: b12, raw: int64(0x1000), err: myBad},
		{col: b64, raw: int64(-1), want: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{col: b64, raw: int64(math.MinInt64), want: []byte{0, 0, 0, 0, 0, 0, 0, 0x80}},
	})
}

func TestMySQLStrings(t *testing.T) {
	utf := Column{Name: "v", Type: "varchar", Charset: "utf8mb4"}
	latin := Column{Name: "v", Type: "char", Charset: "latin1"}
	ascii := Column{Name: "v", Type: "text", Charset: "ascii"}
	u16 := Column{Name: "v", Type: "varchar", Charset: "utf16"}
	u16le := Column{Name: "v", Type: "varchar", Charset: "utf16le"}
	u32 := Column{Name: "v", Type: "varchar", Charset: "utf32"}
	ucs2 := Column{Name: "v", Type: "varchar", Charset: "ucs2"}
	bin4 := Column{Name: "v", Type: "binary", Length: 4}
	myRunCases(t, []myCase{
		{col: utf, raw: "", want: ""},
		{col: utf, raw: "héllo 🎉", want: "héllo 🎉"},
		{col: utf, raw: []byte("日本語"), want: "日本語"},
		{col: utf, raw: "a\xffb", err: myUnrep},
		{col: utf, raw: 5, err: myBad},
		{col: latin, raw: "caf\xe9 \x80\x81\x9f", want: "café €\u0081Ÿ"},
		{col: ascii, raw: "plain", want: "plain"},
		{col: ascii, raw: "\x80", err: myUnrep},
		{col: u16, raw: "\x00a\xd8\x3d\xde\x00", want: "a😀"},
		{col: u16, raw: "\xd8\x3d", err: myUnrep},
		{col: u16, raw: "\x00", err: myBad},
		{col: u16le, raw: "a\x00=\xd8\x00\xde", want: "a😀"},
		{col: u32, raw: "\x00\x01\xf6\x00", want: "😀"},
		{col: u32, raw: "\x00\x11\x00\x00", err: myUnrep},
		{col: ucs2, raw: "\xd8\x3d\xde\x00", err: myUnrep},
		{col: bin4, raw: "ab", want: []byte{'a', 'b', 0, 0}},
		{col: bin4, raw: []byte{1, 2, 3, 4}, want: []byte{1, 2, 3, 4}},
		{col: bin4, raw: "", want: []byte{0, 0, 0, 0}},
		{col: bin4, raw: "abcde", err: myBad},
		{col: myCol("blob"), raw: []byte{0, 0xff}, want: []byte{0, 0xff}},
		{col: myCol("varbinary"), raw: "x\x00", want: []byte{'x', 0}},
	})
	if _, err := MySQLColumnType(&Column{Name: "v", Type: "varchar", Charset: "big5"}); err == nil {
		t.Error("big5: want an unsupported-charset error when the type is built")
	}
}

func TestMySQLEnumSet(t *testing.T) {
	e := Column{Name: "v", Type: "enum", Enum: []string{"a", "b c", "é"}}
	s := Column{Name: "v", Type: "set", Enum: []string{"x", "y", "z"}}
	myRunCases(t, []myCase{
		{col: e, raw: int64(1), want: "a"},
		{col: e, raw: int64(3), want: "é"},
		{col: e, raw: int64(0), want: ""},
		{col: e, raw: int64(4), err: myUnrep},
		{col: e, raw: int64(-1), err: myUnrep},
		{col: s, raw: int64(0), want: ""},
		{col: s, raw: int64(5), want: "x,z"},
		{col: s, raw: int64(7), want: "x,y,z"},
		{col: s, raw: int64(8), err: myUnrep},
	})
}

func TestMySQLTemporal(t *testing.T) {
	day := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	// goavro hands local-timestamp-* over as the long itself.
	at := func(y, m, d, hh, mm, ss, us int) int64 {
		return time.Date(y, time.Month(m), d, hh, mm, ss, us*1000, time.UTC).UnixMicro()
	}
	dt0 := Column{Name: "v", Type: "datetime", Precision: 0}
	dt3 := Column{Name: "v", Type: "datetime", Precision: 3}
	dt6 := Column{Name: "v", Type: "datetime", Precision: 6}
	ts0 := Column{Name: "v", Type: "timestamp", Precision: 0}
	ts6 := Column{Name: "v", Type: "timestamp", Precision: 6}
	tm := Column{Name: "v", Type: "time", Precision: 6}
	myRunCases(t, []myCase{
		{col: myCol("date"), raw: "1970-01-01", want: day(1970, 1, 1)},
		{col: myCol("date"), raw: "2024-02-29", want: day(2024, 2, 29)},
		{col: myCol("date"), raw: "1000-01-01", want: day(1000, 1, 1)},
		{col: myCol("date"), raw: "9999-12-31", want: day(9999, 12, 31)},
		{col: myCol("date"), raw: "0000-01-01", want: day(0, 1, 1)},
		{col: myCol("date"), raw: "0000-00-00", want: time.Unix(0, 0).UTC().AddDate(0, 0, math.MinInt32)},
		{col: myCol("date"), raw: "2024-00-15", err: myUnrep},
		{col: myCol("date"), raw: "2024-02-30", err: myUnrep},
		{col: myCol("date"), raw: "2024-1-1", err: myBad},
		{col: dt0, raw: "2024-01-02 03:04:05", want: at(2024, 1, 2, 3, 4, 5, 0) / 1000},
		{col: dt3, raw: "1969-12-31 23:59:59.999", want: at(1969, 12, 31, 23, 59, 59, 999000) / 1000},
		{col: dt3, raw: "1969-12-31 23:59:59.9995", err: myBad},
		{col: dt6, raw: "9999-12-31 23:59:59.999999", want: at(9999, 12, 31, 23, 59, 59, 999999)},
		{col: dt6, raw: "1000-01-01 00:00:00.000001", want: at(1000, 1, 1, 0, 0, 0, 1)},
		{col: dt6, raw: "2024-01-02 24:00:00", err: myBad},
		{col: dt6, raw: "2024-01-02T03:04:05", err: myBad},
		{col: ts0, raw: "2038-01-19 03:14:07", want: "2038-01-19T03:14:07Z"},
		{col: ts6, raw: "1970-01-01 00:00:01.5", want: "1970-01-01T00:00:01.500000Z"},
		{col: ts6, raw: "0000-00-00 00:00:00.000000", want: "1970-01-01T00:00:00.000000Z"},
		{col: ts0, raw: "0000-00-00 00:00:00", want: "1970-01-01T00:00:00Z"},
		{col: ts0, raw: "0000-00-00 00:00:01", err: myUnrep},
		{col: tm, raw: "00:00:00", want: int64(0)},
		{col: tm, raw: "12:00:00.5", want: int64(43200500000)},
		{col: tm, raw: "-838:59:59", want: int64(-3020399000000)},
		{col: tm, raw: "838:59:59.000000", want: int64(3020399000000)},
		{col: tm, raw: "-00:00:00.000001", want: int64(-1)},
		{col: tm, raw: "25:00:00", want: int64(90000000000)},
		{col: tm, raw: "1:00:00", err: myBad},
		{col: tm, raw: "10:60:00", err: myBad},
		{col: tm, raw: "10:00:00.1234567", err: myBad},
	})
	// datetime: the zero value is math.MinInt64, the same in either unit.
	for _, c := range []Column{dt0, dt6} {
		ct, err := MySQLColumnType(&c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ct.Append(nil, "0000-00-00 00:00:00")
		if err != nil || !bytes.Equal(got, AppendLong(nil, math.MinInt64)) {
			t.Errorf("datetime(%d) zero: % x %v, want math.MinInt64", c.Precision, got, err)
		}
	}
}

func TestMySQLJSONAndGeometry(t *testing.T) {
	mysqlJSON := myCol("json")
	mariaJSON := Column{Name: "v", Type: "json", Charset: "utf8mb4"}
	point := []byte{0xe6, 0x10, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40}
	myRunCases(t, []myCase{
		{col: mariaJSON, raw: []byte(`{"b": 1,  "a": [1, 2.50]}`), want: `{"b": 1,  "a": [1, 2.50]}`},
		{col: mysqlJSON, raw: `{"b": 1, "a": [1, 2.50, 1.0, 1e300, true, null, "<é>"]}`,
			want: `{"a":[1,2.5,1.0,1e+300,true,null,"<é>"],"b":1}`},
		{col: mysqlJSON, raw: `{"a":[1,2.5,1.0,1e+300,true,null,"<é>"],"b":1}`,
			want: `{"a":[1,2.5,1.0,1e+300,true,null,"<é>"],"b":1}`},
		{col: mysqlJSON, raw: "18446744073709551615", want: "18446744073709551615"},
		{col: mysqlJSON, raw: `[12345678901234567890.123456789, -0.000000000000000000001234567, 1.50000000000000000000, 0.30000000000000004, 18446744073709551616]`,
			want: `[12345678901234567890.123456789,-1.234567e-21,1.5,0.30000000000000004,18446744073709551616]`},
		{col: mysqlJSON, raw: "", want: "null"},
		{col: mysqlJSON, raw: "{", err: myBad},
		{col: mysqlJSON, raw: "1 2", err: myBad},
		{col: myCol("point"), raw: point, want: map[string]any{"srid": int32(4326), "wkb": point[4:], "x": 1.0, "y": 2.0}},
		{col: myCol("point"), raw: append([]byte{0, 0, 0, 0}, point[4:]...), want: map[string]any{"srid": nil, "wkb": point[4:], "x": 1.0, "y": 2.0}},
		{col: myCol("point"), raw: []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0},
			want: map[string]any{"srid": nil, "wkb": []byte{0, 0, 0, 0, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0}, "x": 1.0, "y": -2.0}},
		{col: myCol("point"), raw: append([]byte{0, 0, 0, 0}, point[4:24]...), err: myBad},
		{col: myCol("geometry"), raw: append([]byte{0, 0, 0, 0}, point[4:]...), want: map[string]any{"srid": nil, "wkb": point[4:]}},
		{col: myCol("geometry"), raw: point[:8], err: myBad},
		{col: myCol("geometry"), raw: append([]byte{0, 0, 0, 0x80}, point[4:]...), err: myUnrep},
	})
}

func TestMySQLTypeErrors(t *testing.T) {
	for _, c := range []Column{
		myCol("vector"), {Name: "v", Type: "decimal", Precision: 66}, {Name: "v", Type: "decimal", Precision: 5, Scale: 6},
		{Name: "v", Type: "bit", Length: 65}, myCol("bit"),
	} {
		if _, err := MySQLColumnType(&c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
