package schema

import "strings"

// AvroTypeFor returns c's Avro schema for inclusion in a record schema,
// replacing a named type that was already defined earlier in the same schema
// (tracked in defined) with a reference by its full name.
//
// Avro allows a named type (record, enum, fixed) to be defined once per
// schema; a second definition, even an identical one, is rejected by the
// Java parser and so by the Schema Registry. Call AvroTypeFor for the
// columns of one schema in field order with one defined map; it records the
// names it defines. t.Avro itself is never modified: what changes is copied.
// A nil defined map tracks nothing.
func AvroTypeFor(t ColumnType, defined map[string]bool) any {
	if defined == nil {
		defined = map[string]bool{}
	}
	return avroDedupe(t.Avro, "", defined)
}

// avroDedupe walks an Avro schema value. ns is the enclosing namespace, in
// which a short name is resolved.
func avroDedupe(s any, ns string, defined map[string]bool) any {
	switch v := s.(type) {
	case []any: // union
		out := make([]any, len(v))
		for i, b := range v {
			out[i] = avroDedupe(b, ns, defined)
		}
		return out
	case map[string]any:
		switch v["type"] {
		case "record", "error", "enum", "fixed":
			full, _ := v["name"].(string)
			if !strings.Contains(full, ".") {
				if n, ok := v["namespace"].(string); ok {
					ns = n
				}
				if ns != "" {
					full = ns + "." + full
				}
			} else {
				ns = full[:strings.LastIndexByte(full, '.')]
			}
			if defined[full] {
				return full
			}
			defined[full] = true
			fields, ok := v["fields"].([]any)
			if !ok {
				return v
			}
			cp := avroCopyMap(v)
			out := make([]any, len(fields))
			for i, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					out[i] = f
					continue
				}
				fc := avroCopyMap(fm)
				fc["type"] = avroDedupe(fm["type"], ns, defined)
				out[i] = fc
			}
			cp["fields"] = out
			return cp
		case "array":
			cp := avroCopyMap(v)
			cp["items"] = avroDedupe(v["items"], ns, defined)
			return cp
		case "map":
			cp := avroCopyMap(v)
			cp["values"] = avroDedupe(v["values"], ns, defined)
			return cp
		}
	}
	return s
}

func avroCopyMap(m map[string]any) map[string]any {
	cp := make(map[string]any, len(m))
	for k, v := range m {
		cp[k] = v
	}
	return cp
}
