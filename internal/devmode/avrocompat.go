package devmode

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Avro schema compatibility, as a real registry decides it: a reader
// schema can read data written with a writer schema when the Avro
// specification's schema resolution succeeds for every value the writer
// can produce. Logical types are not compared, as Avro's own
// SchemaCompatibility does not compare them.

// avroNode is a parsed schema. Named types (record, enum, fixed) are
// shared: a reference by name points at the same node.
type avroNode struct {
	typ      string // null boolean int long float double bytes string record enum fixed array map union
	name     string // full name of a named type
	fields   []avroField
	symbols  []string
	enumDef  bool // the enum has a default symbol
	size     int
	items    *avroNode // array items, map values
	branches []*avroNode
}

type avroField struct {
	name       string
	aliases    []string
	typ        *avroNode
	hasDefault bool
}

var avroPrimitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

// parseAvro parses a schema's JSON text.
func parseAvro(text string) (*avroNode, error) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	p := avroParser{named: map[string]*avroNode{}}
	return p.parse(v, "", 0)
}

type avroParser struct{ named map[string]*avroNode }

// fullName qualifies name with ns unless it already has dots.
func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *avroParser) parse(v any, ns string, depth int) (*avroNode, error) {
	if depth > 64 {
		return nil, errors.New("schema nested too deeply")
	}
	switch s := v.(type) {
	case string:
		if avroPrimitives[s] {
			return &avroNode{typ: s}, nil
		}
		if n, ok := p.named[fullName(s, ns)]; ok {
			return n, nil
		}
		if n, ok := p.named[s]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", s)
	case []any:
		u := &avroNode{typ: "union"}
		for _, b := range s {
			n, err := p.parse(b, ns, depth+1)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, n)
		}
		return u, nil
	case map[string]any:
		t, _ := s["type"].(string)
		if t == "" {
			// {"type": {...}} or {"type": [...]}: the inner schema.
			if inner, ok := s["type"]; ok {
				return p.parse(inner, ns, depth+1)
			}
			return nil, errors.New("schema object without a type")
		}
		switch t {
		case "record", "error", "enum", "fixed":
			name, _ := s["name"].(string)
			if name == "" {
				return nil, fmt.Errorf("%s without a name", t)
			}
			if n, ok := s["namespace"].(string); ok && !strings.Contains(name, ".") {
				ns = n
			}
			full := fullName(name, ns)
			if i := strings.LastIndex(full, "."); i >= 0 {
				ns = full[:i]
			}
			n := &avroNode{typ: t, name: full}
			if t == "error" {
				n.typ = "record"
			}
			p.named[full] = n
			switch n.typ {
			case "record":
				fields, _ := s["fields"].([]any)
				for _, f := range fields {
					fm, ok := f.(map[string]any)
					if !ok {
						return nil, fmt.Errorf("record %s: a field is not an object", full)
					}
					fname, _ := fm["name"].(string)
					ft, err := p.parse(fm["type"], ns, depth+1)
					if err != nil {
						return nil, fmt.Errorf("record %s field %s: %w", full, fname, err)
					}
					_, hasDefault := fm["default"]
					field := avroField{name: fname, typ: ft, hasDefault: hasDefault}
					if al, ok := fm["aliases"].([]any); ok {
						for _, a := range al {
							if as, ok := a.(string); ok {
								field.aliases = append(field.aliases, as)
							}
						}
					}
					n.fields = append(n.fields, field)
				}
			case "enum":
				syms, _ := s["symbols"].([]any)
				for _, sym := range syms {
					if ss, ok := sym.(string); ok {
						n.symbols = append(n.symbols, ss)
					}
				}
				_, n.enumDef = s["default"]
			case "fixed":
				size, _ := s["size"].(float64)
				n.size = int(size)
			}
			return n, nil
		case "array", "map":
			key := "items"
			if t == "map" {
				key = "values"
			}
			items, err := p.parse(s[key], ns, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", t, key, err)
			}
			return &avroNode{typ: t, items: items}, nil
		default:
			// A primitive with attributes (logicalType, connect.*).
			return p.parse(t, ns, depth+1)
		}
	}
	return nil, fmt.Errorf("not a schema: %v", v)
}

// avroCanRead reports whether reader can read everything writer writes,
// and if not, where the first difference is.
func avroCanRead(reader, writer *avroNode) (ok bool, where string) {
	c := compatChecker{seen: map[[2]*avroNode]bool{}}
	return c.read(reader, writer, "")
}

type compatChecker struct{ seen map[[2]*avroNode]bool }

var avroPromotions = map[[2]string]bool{
	{"long", "int"}: true, {"float", "int"}: true, {"double", "int"}: true,
	{"float", "long"}: true, {"double", "long"}: true, {"double", "float"}: true,
	{"string", "bytes"}: true, {"bytes", "string"}: true,
}

func (c compatChecker) read(r, w *avroNode, path string) (bool, string) {
	if w.typ == "union" {
		for i, b := range w.branches {
			if ok, where := c.read(r, b, fmt.Sprintf("%s/%d", path, i)); !ok {
				return false, where
			}
		}
		return true, ""
	}
	if r.typ == "union" {
		for _, b := range r.branches {
			if ok, _ := c.read(b, w, path); ok {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s: reader union has no branch for writer type %s", orRoot(path), w.describe())
	}
	if r.typ != w.typ {
		if avroPromotions[[2]string{r.typ, w.typ}] {
			return true, ""
		}
		return false, fmt.Sprintf("%s: reader type %s cannot read writer type %s", orRoot(path), r.describe(), w.describe())
	}
	switch r.typ {
	case "record":
		if shortName(r.name) != shortName(w.name) {
			return false, fmt.Sprintf("%s: record name %s differs from %s", orRoot(path), r.name, w.name)
		}
		key := [2]*avroNode{r, w}
		if c.seen[key] {
			return true, "" // a recursive type: assumed while it is checked
		}
		c.seen[key] = true
		for _, rf := range r.fields {
			wf := w.field(rf)
			if wf == nil {
				if !rf.hasDefault {
					return false, fmt.Sprintf("%s/%s: reader field has no default and the writer lacks it", path, rf.name)
				}
				continue
			}
			if ok, where := c.read(rf.typ, wf.typ, path+"/"+rf.name); !ok {
				return false, where
			}
		}
	case "enum":
		if shortName(r.name) != shortName(w.name) {
			return false, fmt.Sprintf("%s: enum name %s differs from %s", orRoot(path), r.name, w.name)
		}
		if !r.enumDef {
			for _, s := range w.symbols {
				if !contains(r.symbols, s) {
					return false, fmt.Sprintf("%s: reader enum lacks symbol %s", orRoot(path), s)
				}
			}
		}
	case "fixed":
		if shortName(r.name) != shortName(w.name) || r.size != w.size {
			return false, fmt.Sprintf("%s: fixed %s(%d) cannot read %s(%d)", orRoot(path), r.name, r.size, w.name, w.size)
		}
	case "array", "map":
		return c.read(r.items, w.items, path+"/"+r.typ)
	}
	return true, ""
}

// field finds the writer field a reader field reads: by name, else by one
// of the reader field's aliases.
func (n *avroNode) field(rf avroField) *avroField {
	for i := range n.fields {
		if n.fields[i].name == rf.name {
			return &n.fields[i]
		}
	}
	for _, a := range rf.aliases {
		for i := range n.fields {
			if n.fields[i].name == a {
				return &n.fields[i]
			}
		}
	}
	return nil
}

func (n *avroNode) describe() string {
	if n.name != "" {
		return n.typ + " " + n.name
	}
	return n.typ
}

func shortName(full string) string {
	if i := strings.LastIndex(full, "."); i >= 0 {
		return full[i+1:]
	}
	return full
}

func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
