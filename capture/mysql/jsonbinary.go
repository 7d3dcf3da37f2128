package mysql

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// MySQL writes a JSON column to the binlog in its binary storage format
// (sql-common/json_binary.cc). go-mysql's decoder loses what that format
// says about opaque values, MySQL types kept inside a document: a DECIMAL
// becomes a JSON string instead of a number, a DATE gets a time of day, and
// a binary string's bytes are replaced where they are not UTF-8. So Sluice
// reads the column's bytes itself (decodeRows) and renders them here as
// MySQL renders the value in a SELECT: opaque DECIMAL as a number, DATE as
// "YYYY-MM-DD", TIME, DATETIME and TIMESTAMP with six fractional digits,
// any other opaque value as "base64:type<N>:<bytes>". The text then goes
// through schema.MySQLCanonicalJSON like a snapshot's.

// Binary JSON value types.
const (
	jsonSmallObject = 0x00
	jsonLargeObject = 0x01
	jsonSmallArray  = 0x02
	jsonLargeArray  = 0x03
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonUint16      = 0x06
	jsonInt32       = 0x07
	jsonUint32      = 0x08
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
	jsonOpaque      = 0x0f
)

// jsonMaxDepth bounds nesting (MySQL itself allows 100 levels).
const jsonMaxDepth = 1000

var errJSONBinary = errors.New("malformed binary JSON")

func jsonErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errJSONBinary, fmt.Sprintf(format, args...))
}

// AppendJSONText appends the text of a MySQL binary JSON document. An
// empty document (what MySQL stores for an invalid value in non-strict
// mode) is the JSON null literal, as MySQL reads it.
func AppendJSONText(dst, doc []byte) ([]byte, error) {
	if len(doc) == 0 {
		return append(dst, "null"...), nil
	}
	return appendJSONValue(dst, doc[0], doc[1:], 0)
}

func appendJSONValue(dst []byte, typ byte, data []byte, depth int) ([]byte, error) {
	switch typ {
	case jsonSmallObject, jsonLargeObject, jsonSmallArray, jsonLargeArray:
		if depth >= jsonMaxDepth {
			return dst, jsonErr("nested deeper than %d levels", jsonMaxDepth)
		}
		return appendJSONContainer(dst, typ, data, depth+1)
	case jsonLiteral:
		if len(data) < 1 {
			return dst, jsonErr("truncated literal")
		}
		switch data[0] {
		case 0:
			return append(dst, "null"...), nil
		case 1:
			return append(dst, "true"...), nil
		case 2:
			return append(dst, "false"...), nil
		}
		return dst, jsonErr("literal %#x", data[0])
	case jsonInt16, jsonUint16:
		if len(data) < 2 {
			return dst, jsonErr("truncated 16-bit integer")
		}
		u := binary.LittleEndian.Uint16(data)
		if typ == jsonInt16 {
			return strconv.AppendInt(dst, int64(int16(u)), 10), nil
		}
		return strconv.AppendUint(dst, uint64(u), 10), nil
	case jsonInt32, jsonUint32:
		if len(data) < 4 {
			return dst, jsonErr("truncated 32-bit integer")
		}
		u := binary.LittleEndian.Uint32(data)
		if typ == jsonInt32 {
			return strconv.AppendInt(dst, int64(int32(u)), 10), nil
		}
		return strconv.AppendUint(dst, uint64(u), 10), nil
	case jsonInt64, jsonUint64:
		if len(data) < 8 {
			return dst, jsonErr("truncated 64-bit integer")
		}
		u := binary.LittleEndian.Uint64(data)
		if typ == jsonInt64 {
			return strconv.AppendInt(dst, int64(u), 10), nil
		}
		return strconv.AppendUint(dst, u, 10), nil
	case jsonDouble:
		if len(data) < 8 {
			return dst, jsonErr("truncated double")
		}
		return appendJSONDouble(dst, math.Float64frombits(binary.LittleEndian.Uint64(data)))
	case jsonString:
		s, err := jsonVarBytes(data)
		if err != nil {
			return dst, err
		}
		return appendJSONString(dst, s)
	case jsonOpaque:
		if len(data) < 1 {
			return dst, jsonErr("truncated opaque value")
		}
		b, err := jsonVarBytes(data[1:])
		if err != nil {
			return dst, err
		}
		return appendJSONOpaque(dst, data[0], b)
	}
	return dst, jsonErr("value type %#x", typ)
}

// appendJSONContainer renders an object or array: element count and byte
// size, then (objects) key entries, then value entries, offsets counted
// from the start of the count. Small containers use 2-byte counts and
// offsets, large ones 4 bytes; a value entry holds a literal or a 16-bit
// integer (large containers: a 32-bit integer too) in place of its offset.
func appendJSONContainer(dst []byte, typ byte, data []byte, depth int) ([]byte, error) {
	large := typ == jsonLargeObject || typ == jsonLargeArray
	object := typ == jsonSmallObject || typ == jsonLargeObject
	w := 2
	if large {
		w = 4
	}
	word := func(b []byte) int {
		if large {
			return int(binary.LittleEndian.Uint32(b))
		}
		return int(binary.LittleEndian.Uint16(b))
	}
	if len(data) < 2*w {
		return dst, jsonErr("truncated container header")
	}
	count, size := word(data), word(data[w:])
	if size > len(data) || size < 2*w {
		return dst, jsonErr("container of %d bytes in %d", size, len(data))
	}
	data = data[:size]
	keyEntry, valueEntry := w+2, 1+w
	header := 2 * w
	if object {
		header += count * keyEntry
	}
	valuesAt := header
	header += count * valueEntry
	if count < 0 || header > size || count > size {
		return dst, jsonErr("%d elements do not fit in %d bytes", count, size)
	}
	open, close := byte('['), byte(']')
	if object {
		open, close = '{', '}'
	}
	dst = append(dst, open)
	var err error
	for i := 0; i < count; i++ {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if object {
			e := data[2*w+i*keyEntry:]
			off, n := word(e), int(binary.LittleEndian.Uint16(e[w:]))
			if off < header || off+n > size {
				return dst, jsonErr("key %d at %d+%d outside %d..%d", i, off, n, header, size)
			}
			if dst, err = appendJSONString(dst, data[off:off+n]); err != nil {
				return dst, err
			}
			dst = append(dst, ": "...)
		}
		e := data[valuesAt+i*valueEntry:]
		vt := e[0]
		inline := vt == jsonLiteral || vt == jsonInt16 || vt == jsonUint16 ||
			large && (vt == jsonInt32 || vt == jsonUint32)
		if inline {
			dst, err = appendJSONValue(dst, vt, e[1:1+w], depth)
		} else {
			off := word(e[1:])
			if off < header || off >= size {
				return dst, jsonErr("value %d at %d outside %d..%d", i, off, header, size)
			}
			dst, err = appendJSONValue(dst, vt, data[off:], depth)
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, close), nil
}

// jsonVarBytes reads a length (7 bits a byte, low bits first, at most 5
// bytes) and that many bytes.
func jsonVarBytes(data []byte) ([]byte, error) {
	var n uint64
	for i := 0; i < 5 && i < len(data); i++ {
		n |= uint64(data[i]&0x7f) << (7 * i)
		if data[i]&0x80 == 0 {
			if n > uint64(len(data)-i-1) {
				return nil, jsonErr("%d bytes wanted, %d left", n, len(data)-i-1)
			}
			return data[i+1 : i+1+int(n)], nil
		}
	}
	return nil, jsonErr("bad variable-length size")
}

// appendJSONDouble writes the shortest text of f, with ".0" for an
// integral value so that it stays a double.
func appendJSONDouble(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, jsonErr("double %v", f)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst, nil
		}
	}
	return append(dst, ".0"...), nil
}

// appendJSONString quotes s as MySQL does: '"', '\' and control
// characters escaped, everything else as is. s must be UTF-8.
func appendJSONString(dst, s []byte) ([]byte, error) {
	if !utf8.Valid(s) {
		return dst, jsonErr("string is not UTF-8")
	}
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, `\b`...)
		case c == '\f':
			dst = append(dst, `\f`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"'), nil
}

// appendJSONOpaque renders a MySQL value kept in a document with its type.
func appendJSONOpaque(dst []byte, typ byte, b []byte) ([]byte, error) {
	switch typ {
	case gomysql.MYSQL_TYPE_NEWDECIMAL:
		if len(b) < 2 {
			return dst, jsonErr("truncated DECIMAL")
		}
		return appendBinaryDecimal(dst, int(b[0]), int(b[1]), b[2:])
	case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_DATETIME, gomysql.MYSQL_TYPE_TIMESTAMP, gomysql.MYSQL_TYPE_TIME:
		if len(b) < 8 {
			return dst, jsonErr("truncated temporal value")
		}
		return appendPackedTemporal(dst, typ, int64(binary.LittleEndian.Uint64(b))), nil
	}
	dst = append(dst, `"base64:type`...)
	dst = strconv.AppendInt(dst, int64(typ), 10)
	dst = append(dst, ':')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"'), nil
}

// appendPackedTemporal renders MySQL's packed temporal integer: the
// fraction in the low 24 bits; above it, for a TIME, hour<<12 | minute<<6
// | second; for a date and time, ((year*13+month)<<5 | day)<<17 then the
// time of day as for a TIME. A negative value is a negative TIME.
func appendPackedTemporal(dst []byte, typ byte, v int64) []byte {
	neg := v < 0
	if neg {
		v = -v
	}
	frac := v & (1<<24 - 1)
	rest := v >> 24
	hms := rest
	if typ != gomysql.MYSQL_TYPE_TIME {
		hms = rest & (1<<17 - 1)
	}
	hour, minute, second := hms>>12, (hms>>6)&63, hms&63
	pad := func(n int64, width int) {
		s := strconv.FormatInt(n, 10)
		for i := len(s); i < width; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, s...)
	}
	dst = append(dst, '"')
	if typ == gomysql.MYSQL_TYPE_TIME {
		if neg {
			dst = append(dst, '-')
		}
	} else {
		ymd := rest >> 17
		ym := ymd >> 5
		pad(ym/13, 4)
		dst = append(dst, '-')
		pad(ym%13, 2)
		dst = append(dst, '-')
		pad(ymd&31, 2)
		if typ == gomysql.MYSQL_TYPE_DATE {
			return append(dst, '"')
		}
		dst = append(dst, ' ')
	}
	pad(hour, 2)
	dst = append(dst, ':')
	pad(minute, 2)
	dst = append(dst, ':')
	pad(second, 2)
	dst = append(dst, '.')
	pad(frac, 6)
	return append(dst, '"')
}

// appendBinaryDecimal renders MySQL's binary DECIMAL(precision, scale):
// groups of nine digits in four big-endian bytes, a leading and a trailing
// partial group in as few bytes as their digits need; the first bit set
// for a non-negative value, every bit inverted for a negative one.
func appendBinaryDecimal(dst []byte, precision, scale int, b []byte) ([]byte, error) {
	if precision < 1 || precision > 65 || scale > 30 || scale > precision {
		return dst, jsonErr("DECIMAL(%d,%d)", precision, scale)
	}
	digitBytes := [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}
	intg := precision - scale
	intFull, intPart := intg/9, intg%9
	fracFull, fracPart := scale/9, scale%9
	size := digitBytes[intPart] + 4*intFull + 4*fracFull + digitBytes[fracPart]
	if len(b) < size {
		return dst, jsonErr("DECIMAL(%d,%d) in %d bytes", precision, scale, len(b))
	}
	buf := make([]byte, size)
	copy(buf, b)
	var mask byte
	if buf[0]&0x80 == 0 {
		mask = 0xff
	}
	buf[0] ^= 0x80
	for i := range buf {
		buf[i] ^= mask
	}
	read := func(n int) uint32 {
		var v uint32
		for _, c := range buf[:n] {
			v = v<<8 | uint32(c)
		}
		buf = buf[n:]
		return v
	}
	var digits []byte
	group := func(v uint32, width int) error {
		s := strconv.FormatUint(uint64(v), 10)
		if len(s) > width {
			return jsonErr("DECIMAL group %d wider than %d digits", v, width)
		}
		for i := len(s); i < width; i++ {
			digits = append(digits, '0')
		}
		digits = append(digits, s...)
		return nil
	}
	if intPart > 0 {
		if err := group(read(digitBytes[intPart]), intPart); err != nil {
			return dst, err
		}
	}
	for i := 0; i < intFull; i++ {
		if err := group(read(4), 9); err != nil {
			return dst, err
		}
	}
	intDigits := len(digits)
	for i := 0; i < fracFull; i++ {
		if err := group(read(4), 9); err != nil {
			return dst, err
		}
	}
	if fracPart > 0 {
		if err := group(read(digitBytes[fracPart]), fracPart); err != nil {
			return dst, err
		}
	}
	whole := digits[:intDigits]
	for len(whole) > 1 && whole[0] == '0' {
		whole = whole[1:]
	}
	if len(whole) == 0 {
		whole = []byte{'0'}
	}
	if mask != 0 {
		dst = append(dst, '-')
	}
	dst = append(dst, whole...)
	if scale > 0 {
		dst = append(dst, '.')
		dst = append(dst, digits[intDigits:]...)
	}
	return dst, nil
}

// rowsDecoder decodes rows events as go-mysql does, except that MySQL JSON
// columns are read as their bytes (go-mysql's BLOB decoding: the same
// length prefix) and rendered by AppendJSONText, and DATETIME2 columns are
// read as BIT columns of their width and rendered by appendDatetime2
// (datetime2.go). It is used by one parser, on that parser's goroutine.
type rowsDecoder struct {
	table *replication.TableMapEvent // the last table seen
	// recast is table with the recast types and metadata; recasts says
	// whether there is anything to recast.
	recast  replication.TableMapEvent
	recasts bool
	// The column types and metadata the recast ones were made from (go-
	// mysql makes a TableMapEvent per TABLE_MAP, nearly always the same),
	// the recast ones, and per column 0 or the original type to render.
	fromTypes, types []byte
	fromMeta, meta   []uint16
	render           []byte
	text             []byte // scratch for rendering
}

func (d *rowsDecoder) decode(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	t := e.Table
	// A partial JSON update (binlog_row_value_options=PARTIAL_JSON) is
	// left to go-mysql; the source refuses the event.
	if e.Type() == replication.EnumRowsEventTypeUnknown {
		return e.DecodeData(pos, data)
	}
	if d.table != t {
		d.use(t)
	}
	if !d.recasts {
		return e.DecodeData(pos, data)
	}
	e.Table = &d.recast
	err = e.DecodeData(pos, data)
	e.Table = t
	if err != nil {
		return err
	}
	for _, row := range e.Rows {
		for i, typ := range d.render[:min(len(d.render), len(row))] {
			switch typ {
			case gomysql.MYSQL_TYPE_JSON:
				b, ok := row[i].([]byte)
				if !ok {
					continue
				}
				if row[i], err = AppendJSONText(nil, b); err != nil {
					return fmt.Errorf("table %s.%s, JSON column %d: %w", t.Schema, t.Table, i+1, err)
				}
			case gomysql.MYSQL_TYPE_DATETIME2:
				v, ok := row[i].(int64)
				if !ok {
					continue
				}
				d.text = appendDatetime2(d.text[:0], uint64(v), int(t.ColumnMeta[i]))
				row[i] = string(d.text)
			}
		}
	}
	return nil
}

// use makes t the table rows are decoded for: its copy with the JSON
// columns typed BLOB and the DATETIME2 columns typed BIT of the same
// width, when it has any.
func (d *rowsDecoder) use(t *replication.TableMapEvent) {
	d.table = t
	if !bytes.Equal(t.ColumnType, d.fromTypes) || !slices.Equal(t.ColumnMeta, d.fromMeta) {
		d.fromTypes = append(d.fromTypes[:0], t.ColumnType...)
		d.fromMeta = append(d.fromMeta[:0], t.ColumnMeta...)
		d.types = append(d.types[:0], t.ColumnType...)
		d.meta = append(d.meta[:0], t.ColumnMeta...)
		d.render = append(d.render[:0], make([]byte, len(t.ColumnType))...)
		d.recasts = false
		for i, typ := range t.ColumnType {
			switch typ {
			case gomysql.MYSQL_TYPE_JSON:
				d.types[i] = gomysql.MYSQL_TYPE_BLOB
			case gomysql.MYSQL_TYPE_DATETIME2:
				if i >= len(d.meta) {
					continue
				}
				m, ok := datetime2AsBit(d.meta[i])
				if !ok {
					continue
				}
				d.types[i], d.meta[i] = gomysql.MYSQL_TYPE_BIT, m
			default:
				continue
			}
			d.render[i], d.recasts = typ, true
		}
	}
	if d.recasts {
		d.recast = *t
		d.recast.ColumnType, d.recast.ColumnMeta = d.types, d.meta
	}
}
