package schema

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// The Postgres text decoders read bytes from the network. The fuzz targets
// check that no input panics, that a rejected input leaves dst as it was
// and wraps one of the two documented errors, and that whatever is accepted
// decodes with goavro and, where an independent oracle exists, means what
// the text said. Run one with
//
//	go test ./schema -run XXX -fuzz FuzzPostgresArray -fuzztime 20s

// pgFuzzAppend encodes text as column col; ok false means rejected (and
// checked to be rejected properly).
func pgFuzzAppend(t *testing.T, col Column, text []byte) (got any, ok bool) {
	ct, err := PostgresColumnType(&col)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte{0xAA, 0xBB}
	buf, err := ct.Append(AppendNullableSome(prefix), text)
	if err != nil {
		if len(buf) != len(prefix)+1 {
			t.Fatalf("%s %q: error %v but dst grew to %d bytes", col.Type, text, err, len(buf))
		}
		if !errors.Is(err, ErrPostgresMalformed) && !errors.Is(err, ErrPostgresUnrepresentable) {
			t.Fatalf("%s %q: error %v wraps neither sentinel", col.Type, text, err)
		}
		return nil, false
	}
	if !bytes.HasPrefix(buf, prefix) {
		t.Fatalf("%s %q: dst prefix overwritten", col.Type, text)
	}
	return pgDecode(t, pgCodecFor(t, WithLogicalTypes(Postgres, ct).Avro), buf[len(prefix):]), true
}

var pgFuzzArrayCols = []Column{
	pgCol("_int4", -1), pgCol("_text", -1), pgCol("_numeric", -1), pgCol("_timestamptz", -1),
	pgCol("_bytea", -1), pgCol("_box", -1), pgCol("_bool", -1), pgCol("_numeric", pgNumericMod(6, 2)),
}

func FuzzPostgresArray(f *testing.F) {
	for _, s := range []string{
		"{}", "{1,2,NULL}", `{"a b","x\"y",NULL,"NULL"}`, `{a\,b, c ,"",null}`, "{{1,2},{3,4}}",
		"[0:1]={1,2}", `{"\\x0102",NULL}`, `{"2024-01-02 03:04:05+02",infinity}`, "{(1,1),(0,0);(2,2),(1,1)}",
		"{1.50,-2,NaN}", `{"\\"}`, "{ }", "{,}", `{"a"b}`,
	} {
		for k := range pgFuzzArrayCols {
			f.Add([]byte(s), uint8(k))
		}
	}
	f.Fuzz(func(t *testing.T, text []byte, k uint8) {
		col := pgFuzzArrayCols[int(k)%len(pgFuzzArrayCols)]
		got, ok := pgFuzzAppend(t, col, text)
		if !ok {
			return
		}
		items, isArray := got.([]any)
		if !isArray {
			t.Fatalf("%s %q decoded to %T", col.Type, text, got)
		}
		if col.Type != "_text" {
			return
		}
		// Oracle for text[]: quote every element as array_out would and
		// parse the result again: the same strings must come back.
		var b strings.Builder
		b.WriteByte('{')
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			if it == nil {
				b.WriteString("NULL")
				continue
			}
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(it.(string)))
			b.WriteByte('"')
		}
		b.WriteByte('}')
		again, ok := pgFuzzAppend(t, col, []byte(b.String()))
		if !ok || !pgEqual(again, got) {
			t.Fatalf("%q decoded to %q, re-quoted as %q decodes to %q", text, got, b.String(), again)
		}
	})
}

var pgFuzzNumericCols = []Column{
	pgCol("numeric", -1), pgCol("numeric", pgNumericMod(10, 2)), pgCol("numeric", pgNumericMod(38, 10)),
	pgCol("numeric", pgNumericMod(3, -2)), pgCol("numeric", pgNumericMod(2, 4)), pgCol("money", -1),
}

func FuzzPostgresNumeric(f *testing.F) {
	for _, s := range []string{
		"0", "0.00", "-12.50", "123.4500", "NaN", "Infinity", "-Infinity", "1e5", ".5", "1.",
		"12345678901234567890.1234567890", "-0.001", "99999999.99", "12300", "0.0012",
		"$1,234.56", "-$1,234.56", "-92233720368547758.08", "($5.00)", "$92,233,720,368,547,758.08",
	} {
		for k := range pgFuzzNumericCols {
			f.Add([]byte(s), uint8(k))
		}
	}
	f.Fuzz(func(t *testing.T, text []byte, k uint8) {
		col := pgFuzzNumericCols[int(k)%len(pgFuzzNumericCols)]
		got, ok := pgFuzzAppend(t, col, text)
		if !ok {
			return
		}
		var have *big.Rat
		switch g := got.(type) {
		case *big.Rat:
			have = g
		case pgVSD:
			n, _ := new(big.Int).SetString(g.Unscaled, 10)
			have = new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(g.Scale)), nil))
			if g.Scale > 0 && strings.HasSuffix(g.Unscaled, "0") {
				t.Fatalf("%q: VariableScaleDecimal %v keeps a trailing zero", text, g)
			}
		default:
			t.Fatalf("%q decoded to %T", text, got)
		}
		// Oracle: big.Rat's own parser, after removing money decoration.
		s := strings.NewReplacer("$", "", ",", "").Replace(string(text))
		if strings.HasPrefix(s, "(") {
			s = "-" + strings.Trim(s, "()")
		}
		want, valid := new(big.Rat).SetString(s)
		if !valid || want.Cmp(have) != 0 {
			t.Fatalf("%s %q decoded to %v", col.Type, text, have.FloatString(12))
		}
	})
}

var pgFuzzTimeCols = []Column{
	pgCol("timestamp", -1), pgCol("timestamp", 3), pgCol("timestamptz", -1), pgCol("timestamptz", 0),
	pgCol("date", -1), pgCol("time", -1), pgCol("time", 3), pgCol("timetz", -1),
}

func FuzzPostgresTimestamp(f *testing.F) {
	for _, s := range []string{
		"2024-01-02 03:04:05.123456", "0044-03-15 10:00:00 BC", "infinity", "-infinity", "294276-12-31 23:59:59.999999",
		"2024-01-02 03:04:05.12+05:30", "2024-12-31 23:30:00-03:00:00", "0044-03-15 10:00:00+00 BC",
		"2024-02-29", "5874897-12-31", "4713-11-24 BC", "24:00:00", "10:15:30.5-03", "24:00:00+00",
		"2024-01-02 03:04:05.123", "1969-12-31 23:59:59.999999",
	} {
		for k := range pgFuzzTimeCols {
			f.Add([]byte(s), uint8(k))
		}
	}
	f.Fuzz(func(t *testing.T, text []byte, k uint8) {
		col := pgFuzzTimeCols[int(k)%len(pgFuzzTimeCols)]
		got, ok := pgFuzzAppend(t, col, text)
		if !ok {
			return
		}
		// Oracle: Go's time package, for the years and forms it parses.
		s := string(text)
		switch col.Type {
		case "timestamp":
			want, err := time.Parse("2006-01-02 15:04:05.999999", s)
			if err != nil {
				return
			}
			us := want.UnixMicro()
			if col.TypeMod == 3 {
				us /= 1000
			}
			if got != us {
				t.Fatalf("%s %q decoded to %v, time.Parse says %d", col.Type, s, got, us)
			}
		case "timestamptz":
			var want time.Time
			var err error
			for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"} {
				if want, err = time.Parse(layout, s); err == nil {
					break
				}
			}
			if err != nil {
				return
			}
			have, err := time.Parse(time.RFC3339Nano, got.(string))
			if want.Year() < 1 || want.UTC().Year() < 1 {
				return // RFC 3339 has no year 0 or before
			}
			if err != nil || !have.Equal(want) {
				t.Fatalf("%s %q decoded to %v, time.Parse says %v", col.Type, s, got, want.UTC())
			}
		case "date":
			want, err := time.Parse("2006-01-02", s)
			if err == nil && !pgEqual(got, want) {
				t.Fatalf("date %q decoded to %v", s, got)
			}
		}
	})
}

func FuzzPostgresInterval(f *testing.F) {
	for _, s := range []string{
		"P1Y2M3DT4H5M6.789S", "PT0S", "P-1Y-2M3DT-4H-5M-6.789S", "PT-0.5S", "P14M", "PT90M", "infinity",
		"P-178956970Y-8M-2147483648DT-2562047788H-54.775808S", "PT2562047788H54.775807S", "1 year", "P1DT",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		got, ok := pgFuzzAppend(t, pgCol("interval", -1), text)
		if !ok {
			return
		}
		out, isString := got.(string)
		if !isString {
			t.Fatalf("%q decoded to %T", text, got)
		}
		if out == "infinity" || out == "-infinity" {
			return
		}
		// The output is itself an ISO 8601 interval: it must parse back to
		// the same months, days and microseconds (nothing lost).
		m1, d1, u1, err := pgParseInterval(text)
		if err != nil {
			t.Fatal(err)
		}
		m2, d2, u2, err := pgParseInterval([]byte(out))
		if err != nil || m1 != m2 || d1 != d2 || u1 != u2 {
			t.Fatalf("%q -> %q: (%d,%d,%d) became (%d,%d,%d) %v", text, out, m1, d1, u1, m2, d2, u2, err)
		}
	})
}
