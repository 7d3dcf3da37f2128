package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The MySQL raw values come from the binlog (decoded by go-mysql from bytes
// on the network) or from SELECT text. The fuzz targets check that no input
// panics, that a rejected input leaves dst as it was and wraps one of the
// two documented errors, and that what is accepted decodes with goavro and
// means what the input said. Run one with
//
//	go test ./schema -run XXX -fuzz FuzzMySQLDecimal -fuzztime 20s

// myFuzzAppend encodes raw as column col; ok false means rejected (and
// checked to be rejected properly).
func myFuzzAppend(t *testing.T, col Column, raw any) (got any, ok bool) {
	ct, err := MySQLColumnType(&col)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte{0xAA, 0xBB}
	buf, err := ct.Append(AppendNullableSome(prefix), raw)
	if err != nil {
		if len(buf) != len(prefix)+1 {
			t.Fatalf("%s %#v: error %v but dst grew to %d bytes", col.Type, raw, err, len(buf))
		}
		if !errors.Is(err, ErrMySQLMalformed) && !errors.Is(err, ErrMySQLUnrepresentable) {
			t.Fatalf("%s %#v: error %v wraps neither sentinel", col.Type, raw, err)
		}
		return nil, false
	}
	if !bytes.HasPrefix(buf, prefix) {
		t.Fatalf("%s %#v: dst prefix overwritten", col.Type, raw)
	}
	return pgDecode(t, pgCodecFor(t, WithLogicalTypes(MySQL, ct).Avro), buf[len(prefix):]), true
}

func FuzzMySQLDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0.5", "12.340", "99999999.99", "1.", ".5", "1e5", "-", "00012.5000", strings.Repeat("9", 40)} {
		f.Add(s, uint8(10), uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, p, sc uint8) {
		prec := 1 + int(p)%65
		scale := int(sc) % (min(prec, 30) + 1)
		got, ok := myFuzzAppend(t, Column{Type: "decimal", Precision: prec, Scale: scale}, s)
		if !ok {
			return
		}
		want, valid := new(big.Rat).SetString(s)
		if !valid || strings.ContainsAny(s, "eE+/ ") {
			t.Fatalf("decimal(%d,%d) accepted %q, which is not MySQL decimal text", prec, scale, s)
		}
		if r, _ := got.(*big.Rat); r == nil || r.Cmp(want) != 0 {
			t.Fatalf("decimal(%d,%d) %q decoded to %v", prec, scale, s, got)
		}
	})
}

func FuzzMySQLTemporal(f *testing.F) {
	for _, s := range []string{
		"2024-01-02", "0000-00-00", "2024-02-30", "2024-01-02 03:04:05", "2024-01-02 03:04:05.123456",
		"0000-00-00 00:00:00.000", "-838:59:59", "12:00:00.5", "00:00:00", "1:2:3", "9999-12-31 23:59:59.999999",
	} {
		f.Add(s, uint8(0))
	}
	cols := []Column{
		{Type: "date"}, {Type: "datetime", Precision: 6}, {Type: "datetime", Precision: 3},
		{Type: "timestamp", Precision: 6}, {Type: "time", Precision: 6},
	}
	f.Fuzz(func(t *testing.T, s string, k uint8) {
		col := cols[int(k)%len(cols)]
		got, ok := myFuzzAppend(t, col, s)
		if !ok {
			return
		}
		switch col.Type {
		case "date":
			d, _ := got.(time.Time)
			if s == "0000-00-00" {
				return
			}
			p, err := time.Parse("2006-01-02", s)
			if err != nil || !p.Equal(d) {
				t.Fatalf("date %q decoded to %v (time.Parse: %v %v)", s, got, p, err)
			}
		case "datetime", "timestamp":
			if strings.HasPrefix(s, "0000-00-00") {
				return
			}
			p, err := time.Parse("2006-01-02 15:04:05.999999", s)
			if err != nil {
				t.Fatalf("%s %q accepted, time.Parse says %v", col.Type, s, err)
			}
			switch v := got.(type) {
			case int64:
				want := p.UnixMicro()
				if col.Precision <= 3 {
					want = p.UnixMilli()
				}
				if v != want {
					t.Fatalf("%s %q decoded to %d, want %d", col.Type, s, v, want)
				}
			case string:
				back, err := time.Parse(time.RFC3339Nano, v)
				if err != nil || !back.Equal(p) {
					t.Fatalf("timestamp %q became %q (%v)", s, v, err)
				}
			}
		case "time":
			us, _ := got.(int64)
			neg := strings.HasPrefix(s, "-")
			parts := strings.SplitN(strings.TrimPrefix(s, "-"), ":", 3)
			d, err := time.ParseDuration(parts[0] + "h" + parts[1] + "m" + parts[2] + "s")
			if err != nil {
				t.Fatalf("time %q accepted, ParseDuration says %v", s, err)
			}
			want := d.Microseconds()
			if neg {
				want = -want
			}
			if us != want {
				t.Fatalf("time %q decoded to %d, want %d", s, us, want)
			}
		}
	})
}

func FuzzMySQLGeometry(f *testing.F) {
	f.Add([]byte{0xe6, 0x10, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := myFuzzAppend(t, Column{Type: "geometry"}, b)
		if !ok {
			return
		}
		m := got.(map[string]any)
		var srid any = int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		if srid == int32(0) {
			srid = nil // SRID 0 is null, as Debezium writes it
		}
		if !bytes.Equal(m["wkb"].([]byte), b[4:]) || m["srid"] != srid {
			t.Fatalf("% x decoded to %v", b, m)
		}
	})
}

func FuzzMySQLPoint(f *testing.F) {
	f.Add([]byte{0xe6, 0x10, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := myFuzzAppend(t, Column{Type: "point"}, b)
		if !ok {
			return
		}
		m := got.(map[string]any)
		if !bytes.Equal(m["wkb"].([]byte), b[4:]) || len(b) != 25 {
			t.Fatalf("% x decoded to %v", b, m)
		}
	})
}

func FuzzMySQLJSON(f *testing.F) {
	for _, s := range []string{`{"b": 1, "a": [1, 2.50]}`, `[1.0, 1e300, -0, 18446744073709551616]`, `"<&>"`, ``, `{`, `null`, `{"a":{"a":{}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := myFuzzAppend(t, Column{Type: "json"}, s)
		if !ok {
			return
		}
		c := got.(string)
		if !json.Valid([]byte(c)) {
			t.Fatalf("%q canonicalised to invalid JSON %q", s, c)
		}
		again, err := MySQLCanonicalJSON([]byte(c))
		if err != nil || string(again) != c {
			t.Fatalf("canonical form of %q is not stable: %q -> %q (%v)", s, c, again, err)
		}
	})
}

func FuzzMySQLText(f *testing.F) {
	for _, s := range []string{"héllo", "\x80\x81\xff", "\xd8\x3d\xde\x00", "\x00\x01\xf6\x00", "abc"} {
		f.Add([]byte(s), uint8(0))
	}
	charsets := []string{"utf8mb4", "latin1", "ascii", "utf16", "utf16le", "utf32", "ucs2"}
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		cs := charsets[int(k)%len(charsets)]
		got, ok := myFuzzAppend(t, Column{Type: "varchar", Charset: cs}, b)
		if !ok {
			return
		}
		s := got.(string)
		if !utf8.ValidString(s) {
			t.Fatalf("%s % x decoded to invalid UTF-8", cs, b)
		}
		if cs == "latin1" && utf8.RuneCountInString(s) != len(b) {
			t.Fatalf("latin1 % x: %d runes from %d bytes", b, utf8.RuneCountInString(s), len(b))
		}
		if (cs == "utf8mb4" || cs == "ascii") && s != string(b) {
			t.Fatalf("%s % x changed", cs, b)
		}
	})
}
