package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Postgres hstore is io.debezium.data.Json, as Debezium's default
// hstore.handling.mode=json writes it: a JSON object of the pairs, a NULL
// value as null, the empty hstore as {}. Keys keep hstore's own output
// order. The input is hstore's text output, in which every key and value
// is double-quoted with '"' and '\' escaped by a backslash, pairs are
// separated by ", " and a NULL value is the bare word NULL.

func pgHstoreType() pgType {
	return pgType{avro: pgNamed("string", "io.debezium.data.Json"), append: pgAppendHstore,
		unavailable: pgAppendUnavailableHstore}
}

// pgAppendUnavailableHstore is Debezium's placeholder for an unchanged
// TOASTed hstore: an object mapping the placeholder to itself.
func pgAppendUnavailableHstore(dst []byte) []byte {
	return AppendString(dst, `{"`+UnavailableValue+`":"`+UnavailableValue+`"}`)
}

func pgAppendHstore(dst, text []byte) ([]byte, error) {
	if !utf8.Valid(text) {
		return dst, fmt.Errorf("%w: hstore is not valid UTF-8", ErrPostgresUnrepresentable)
	}
	out := make([]byte, 0, len(text)+2)
	out = append(out, '{')
	rest := text
	for first := true; len(rest) > 0; first = false {
		if !first {
			if len(rest) < 2 || rest[0] != ',' || rest[1] != ' ' {
				return dst, pgMalformed("hstore", text)
			}
			rest = rest[2:]
			out = append(out, ',')
		}
		key, r, ok := pgHstoreQuoted(rest)
		if !ok || len(r) < 2 || r[0] != '=' || r[1] != '>' {
			return dst, pgMalformed("hstore", text)
		}
		out = pgAppendJSONString(out, key)
		out = append(out, ':')
		r = r[2:]
		if len(r) >= 4 && string(r[:4]) == "NULL" {
			out = append(out, "null"...)
			rest = r[4:]
			continue
		}
		val, r, ok := pgHstoreQuoted(r)
		if !ok {
			return dst, pgMalformed("hstore", text)
		}
		out = pgAppendJSONString(out, val)
		rest = r
	}
	out = append(out, '}')
	dst = AppendLong(dst, int64(len(out)))
	return append(dst, out...), nil
}

// pgHstoreQuoted reads one double-quoted hstore string at the start of b
// and returns it unescaped and what follows it.
func pgHstoreQuoted(b []byte) (s string, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	var out []byte
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
			if i == len(b) {
				return "", nil, false
			}
			out = append(out, b[i])
		case '"':
			return string(out), b[i+1:], true
		default:
			out = append(out, b[i])
		}
	}
	return "", nil, false
}

// pgAppendJSONString appends s as a JSON string, without HTML escaping, as
// Jackson writes it.
func pgAppendJSONString(dst []byte, s string) []byte {
	var w bytes.Buffer
	e := json.NewEncoder(&w)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(w.Bytes(), []byte{'\n'})...)
}
