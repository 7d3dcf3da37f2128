package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MySQL text columns arrive in the column's character set: the binlog
// carries the stored bytes, and the snapshot reads them with
// character_set_results = NULL (no conversion), so both see the same bytes.
// They are decoded to UTF-8 here, for the Avro string. Supported: utf8mb4,
// utf8mb3 (utf8), ascii, latin1 (MySQL's latin1 is Windows-1252, with the
// five bytes that code page leaves undefined mapped to U+0081, U+008D,
// U+008F, U+0090 and U+009D), ucs2, utf16, utf16le and utf32. Other
// character sets are refused when the table version is built: convert the
// column to utf8mb4.

// mysqlCharsetDecoder returns the function appending text in charset as an
// Avro string.
func mysqlCharsetDecoder(charset string) (func(dst, b []byte) ([]byte, error), error) {
	switch strings.ToLower(charset) {
	case "", "utf8mb4", "utf8mb3", "utf8", "binary":
		return mysqlAppendUTF8, nil
	case "ascii":
		return func(dst, b []byte) ([]byte, error) {
			for _, c := range b {
				if c >= 0x80 {
					return dst, fmt.Errorf("%w: byte %#x in an ascii column", ErrMySQLUnrepresentable, c)
				}
			}
			return AppendBytes(dst, b), nil
		}, nil
	case "latin1":
		return mysqlAppendLatin1, nil
	case "ucs2", "utf16":
		return func(dst, b []byte) ([]byte, error) { return mysqlAppendUTF16(dst, b, true, charset == "ucs2") }, nil
	case "utf16le":
		return func(dst, b []byte) ([]byte, error) { return mysqlAppendUTF16(dst, b, false, false) }, nil
	case "utf32":
		return mysqlAppendUTF32, nil
	}
	return nil, fmt.Errorf("character set %q is not supported (utf8mb4, utf8mb3, ascii, latin1, ucs2, utf16, utf16le and utf32 are); convert the column to utf8mb4", charset)
}

func mysqlAppendUTF8(dst, b []byte) ([]byte, error) {
	if !utf8.Valid(b) {
		return dst, fmt.Errorf("%w: text is not valid UTF-8", ErrMySQLUnrepresentable)
	}
	return AppendBytes(dst, b), nil
}

// mysqlLatin1High maps bytes 0x80..0x9F of MySQL's latin1 (cp1252).
var mysqlLatin1High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

func mysqlAppendLatin1(dst, b []byte) ([]byte, error) {
	n := 0
	for _, c := range b {
		n += utf8.RuneLen(mysqlLatin1Rune(c))
	}
	dst = AppendLong(dst, int64(n))
	for _, c := range b {
		dst = utf8.AppendRune(dst, mysqlLatin1Rune(c))
	}
	return dst, nil
}

func mysqlLatin1Rune(c byte) rune {
	if c >= 0x80 && c < 0xA0 {
		return mysqlLatin1High[c-0x80]
	}
	return rune(c)
}

func mysqlAppendUTF16(dst, b []byte, bigEndian, ucs2 bool) ([]byte, error) {
	if len(b)%2 != 0 {
		return dst, fmt.Errorf("%w: odd number of bytes in a UTF-16 column", ErrMySQLMalformed)
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	var out []byte
	for i := 0; i < len(units); i++ {
		u := units[i]
		r := rune(u)
		if utf16.IsSurrogate(r) {
			if ucs2 || i+1 >= len(units) {
				return dst, fmt.Errorf("%w: unpaired surrogate in a UTF-16 column", ErrMySQLUnrepresentable)
			}
			r = utf16.DecodeRune(r, rune(units[i+1]))
			if r == utf8.RuneError {
				return dst, fmt.Errorf("%w: invalid surrogate pair in a UTF-16 column", ErrMySQLUnrepresentable)
			}
			i++
		}
		out = utf8.AppendRune(out, r)
	}
	return AppendBytes(dst, out), nil
}

func mysqlAppendUTF32(dst, b []byte) ([]byte, error) {
	if len(b)%4 != 0 {
		return dst, fmt.Errorf("%w: byte count not a multiple of 4 in a utf32 column", ErrMySQLMalformed)
	}
	var out []byte
	for i := 0; i < len(b); i += 4 {
		r := rune(uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3]))
		if !utf8.ValidRune(r) {
			return dst, fmt.Errorf("%w: invalid code point %#x in a utf32 column", ErrMySQLUnrepresentable, r)
		}
		out = utf8.AppendRune(out, r)
	}
	return AppendBytes(dst, out), nil
}

// MySQL's JSON type is stored in a binary format; the binlog decoder and a
// SELECT render it as text in different ways (key order, spacing, number
// formatting). Both are brought to one canonical text, so snapshot and
// stream agree: compact, object keys sorted by their UTF-8 bytes, strings
// escaped as encoding/json does without HTML escaping, integers as written
// and every other number as the shortest text of its float64 value with a
// ".0" when that text would otherwise read as an integer (so 1.0 stays a
// double), unless that text is not the number as written: a DECIMAL kept
// in a document with more digits than a double holds keeps every digit as
// written. MariaDB's JSON is text and never goes through here.

func mysqlAppendBinaryJSON(dst []byte, raw any) ([]byte, error) {
	b, err := mysqlBytes(raw)
	if err != nil {
		return dst, err
	}
	canon, err := MySQLCanonicalJSON(b)
	if err != nil {
		return dst, err
	}
	return AppendBytes(dst, canon), nil
}

// MySQLCanonicalJSON returns the canonical text of a JSON document (see
// above). An empty document, which MySQL writes for an invalid value
// inserted in non-strict mode, is the JSON null literal, as MySQL reads it.
func MySQLCanonicalJSON(b []byte) ([]byte, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("null"), nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrMySQLMalformed, err)
	}
	if _, err := d.Token(); err == nil {
		return nil, fmt.Errorf("%w: JSON: data after the document", ErrMySQLMalformed)
	}
	var out bytes.Buffer
	if err := mysqlWriteJSON(&out, v, 0); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func mysqlWriteJSON(w *bytes.Buffer, v any, depth int) error {
	if depth > 1000 {
		return fmt.Errorf("%w: JSON nested deeper than 1000 levels", ErrMySQLUnrepresentable)
	}
	switch x := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(x))
	case json.Number:
		w.WriteString(mysqlCanonicalNumber(string(x)))
	case string:
		mysqlWriteJSONString(w, x)
	case []any:
		w.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := mysqlWriteJSON(w, e, depth+1); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				w.WriteByte(',')
			}
			mysqlWriteJSONString(w, k)
			w.WriteByte(':')
			if err := mysqlWriteJSON(w, x[k], depth+1); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	default:
		return fmt.Errorf("%w: JSON value of type %T", ErrMySQLMalformed, v)
	}
	return nil
}

func mysqlWriteJSONString(w *bytes.Buffer, s string) {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)         // a string always encodes
	w.Truncate(w.Len() - 1) // Encode's newline
}

// mysqlCanonicalNumber keeps an integer that fits MySQL's JSON integers
// (int64 or uint64) as written, and prints every other number from its
// float64 value where that is the same number: always for up to 15
// significant digits (a double holds any such decimal), and for more when
// the shortest text of the double has the value written (a double printed
// by MySQL or by the binlog decoder). Anything else, a DECIMAL of more
// digits, is written as is, so that no digit is lost.
func mysqlCanonicalNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s
		}
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			return s
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	out := strconv.FormatFloat(f, 'g', -1, 64)
	if mysqlSignificantDigits(s) > 15 {
		in, ok1 := new(big.Rat).SetString(s)
		got, ok2 := new(big.Rat).SetString(out)
		if !ok1 || !ok2 || in.Cmp(got) != 0 {
			return s
		}
	}
	if !strings.ContainsAny(out, ".eEI") {
		out += ".0"
	}
	return out
}

// mysqlSignificantDigits counts the digits of a JSON number's mantissa
// from its first non-zero digit.
func mysqlSignificantDigits(s string) int {
	n, started := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 'e' || c == 'E' {
			break
		}
		if c < '0' || c > '9' || (c == '0' && !started) {
			continue
		}
		started = true
		n++
	}
	return n
}
