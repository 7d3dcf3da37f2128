package schema

import (
	"errors"
	"fmt"
)

// Postgres arrays become Avro arrays of ["null", element], the element
// mapped like a column of the element type (the array column's typmod
// applies to the elements, as in pg_attribute). Only one-dimensional arrays
// with the default lower bound of 1 can be represented: a multi-dimensional
// array or one printed with explicit bounds ("[0:1]={1,2}") is an error,
// since flattening it or dropping its bounds would lose information.
//
// The text is array_out's: "{1,2,NULL}", "{\"a b\",\"x\\\"y\",NULL,\"NULL\"}".
// An unquoted NULL (any case) is SQL NULL; a quoted "NULL" is the string.
// The parser also takes what array_in takes within those limits (blanks
// around elements, backslash escapes outside quotes).

func pgArrayTypeOf(c *Column) (pgType, error) {
	elem := pgElemColumn(c)
	if elem.Elem != nil || (len(elem.Type) > 1 && elem.Type[0] == '_') {
		return pgType{}, fmt.Errorf("array of arrays (element type %q) is not a Postgres type", elem.Type)
	}
	et, err := pgTypeOf(&elem)
	if err != nil {
		return pgType{}, fmt.Errorf("array element: %w", err)
	}
	delim := byte(',')
	if elem.Type == "box" { // the only built-in type with typdelim ';'
		delim = ';'
	}
	elemAppend := et.append
	t := pgType{
		avro: map[string]any{"type": "array", "items": []any{"null", et.avro}},
		append: func(dst, text []byte) ([]byte, error) {
			return pgAppendArray(dst, text, delim, elemAppend)
		},
	}
	switch eu := et.unavailable; {
	case eu != nil:
		// Debezium's placeholder for an array is a one-element array
		// holding the element type's placeholder.
		t.unavailable = func(dst []byte) []byte {
			dst = AppendLong(dst, 1)
			dst = eu(AppendNullableSome(dst))
			return AppendLong(dst, 0)
		}
	case elem.Type == "int4" || elem.Type == "int8":
		// Debezium 3.x gives integer[] and bigint[] a placeholder of
		// their own: the placeholder's bytes, one element each. Both
		// element types are zigzag varints in Avro, so one encoding serves.
		t.unavailable = pgAppendUnavailableIntArray
	}
	return t, nil
}

// pgAppendUnavailableIntArray appends Debezium's placeholder for an
// unchanged TOASTed integer[] or bigint[]: [95, 95, 100, 101, ...], the
// bytes of UnavailableValue.
func pgAppendUnavailableIntArray(dst []byte) []byte {
	dst = AppendLong(dst, int64(len(UnavailableValue)))
	for i := 0; i < len(UnavailableValue); i++ {
		dst = AppendLong(AppendNullableSome(dst), int64(UnavailableValue[i]))
	}
	return AppendLong(dst, 0)
}

// pgElemColumn describes an array's element: Elem when the caller gave it,
// else the type named by the array's typname without its leading '_'.
func pgElemColumn(c *Column) Column {
	var e Column
	if c.Elem != nil {
		e = *c.Elem
	} else {
		e = Column{Type: c.Type[1:], TypeMod: -1}
	}
	e.Name = c.Name
	if c.TypeMod >= 0 || e.TypeMod <= 0 {
		e.TypeMod = c.TypeMod
	}
	if e.Precision == 0 && e.Scale == 0 {
		e.Precision, e.Scale = c.Precision, c.Scale
	}
	if e.Length == 0 {
		e.Length = c.Length
	}
	return e
}

// errPgArrayMultiDim is wrapped for arrays that are not one-dimensional.
var errPgArrayMultiDim = fmt.Errorf("%w: only one-dimensional arrays with lower bound 1 are supported", ErrPostgresUnrepresentable)

func pgAppendArray(dst, text []byte, delim byte, elem func(dst, text []byte) ([]byte, error)) ([]byte, error) {
	body, err := pgArrayBody(text)
	if err != nil {
		return dst, err
	}
	// Pass one validates and counts, so the items go out as one Avro block
	// whose count precedes them.
	lx := pgArrayLexer{s: body, delim: delim}
	count := 0
	for {
		_, _, _, done, err := lx.next()
		if err != nil {
			return dst, pgArrayErr(text, err)
		}
		if done {
			break
		}
		count++
	}
	if count > 0 {
		dst = AppendLong(dst, int64(count))
	}
	lx = pgArrayLexer{s: body, delim: delim}
	var scratch []byte
	for i := 1; ; i++ {
		raw, escaped, null, done, _ := lx.next()
		if done {
			break
		}
		if null {
			dst = AppendNullableNull(dst)
			continue
		}
		if escaped {
			scratch = pgUnescapeArrayElem(scratch[:0], raw)
			raw = scratch
		}
		if dst, err = elem(AppendNullableSome(dst), raw); err != nil {
			return dst, fmt.Errorf("array element %d: %w", i, err)
		}
	}
	return AppendLong(dst, 0), nil
}

func pgArrayErr(text []byte, err error) error {
	if errors.Is(err, ErrPostgresUnrepresentable) {
		return err
	}
	return fmt.Errorf("%w (in %q)", err, Printable(text))
}

// pgArrayBody returns what is between the outer braces.
func pgArrayBody(text []byte) ([]byte, error) {
	s := pgTrimArraySpace(text)
	if len(s) > 0 && s[0] == '[' {
		return nil, errPgArrayMultiDim // dimension decoration: bounds other than 1
	}
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, pgMalformed("array", text)
	}
	return s[1 : len(s)-1], nil
}

func pgIsArraySpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'
}

func pgTrimArraySpace(s []byte) []byte {
	for len(s) > 0 && pgIsArraySpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && pgIsArraySpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// pgArrayLexer yields the elements of a one-dimensional array body.
type pgArrayLexer struct {
	s     []byte
	delim byte
	pos   int
	// more is set after a delimiter: another element must follow.
	more bool
}

// next returns the next element's bytes without quotes; escaped reports
// backslash escapes still to be removed (pgUnescapeArrayElem).
func (l *pgArrayLexer) next() (raw []byte, escaped, null, done bool, err error) {
	s := l.s
	i := l.pos
	for i < len(s) && pgIsArraySpace(s[i]) {
		i++
	}
	if i == len(s) {
		if l.more {
			return nil, false, false, false, pgArraySyntax("missing element after delimiter")
		}
		l.pos = i
		return nil, false, false, true, nil
	}
	switch s[i] {
	case '{':
		return nil, false, false, false, errPgArrayMultiDim
	case '"':
		start := i + 1
		for i = start; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				escaped = true
				i++
			}
		}
		if i >= len(s) {
			return nil, false, false, false, pgArraySyntax("unterminated quoted element")
		}
		raw = s[start:i]
		i++
		for i < len(s) && pgIsArraySpace(s[i]) {
			i++
		}
	default:
		start, end := i, i // end: just past the last byte that is not trailing blank
		for ; i < len(s) && s[i] != l.delim; i++ {
			switch s[i] {
			case '\\':
				escaped = true
				i++
				if i == len(s) {
					return nil, false, false, false, pgArraySyntax("backslash at end of element")
				}
				end = i + 1
			case '"', '{', '}':
				return nil, false, false, false, pgArraySyntax("unexpected character in unquoted element")
			default:
				if !pgIsArraySpace(s[i]) {
					end = i + 1
				}
			}
		}
		raw = s[start:end]
		if len(raw) == 0 {
			return nil, false, false, false, pgArraySyntax("empty unquoted element")
		}
		null = !escaped && len(raw) == 4 && (raw[0]|0x20) == 'n' && (raw[1]|0x20) == 'u' && (raw[2]|0x20) == 'l' && (raw[3]|0x20) == 'l'
	}
	if i < len(s) && s[i] != l.delim {
		return nil, false, false, false, pgArraySyntax("expected delimiter after element")
	}
	l.more = i < len(s)
	if l.more {
		i++
	}
	l.pos = i
	return raw, escaped, null, false, nil
}

func pgArraySyntax(why string) error {
	return fmt.Errorf("%w: array literal: %s", ErrPostgresMalformed, why)
}

// pgUnescapeArrayElem appends raw to dst with each backslash escape
// replaced by the character it escapes.
func pgUnescapeArrayElem(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			i++
		}
		dst = append(dst, raw[i])
	}
	return dst
}
