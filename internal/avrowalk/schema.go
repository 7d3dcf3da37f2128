package avrowalk

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Node is one Avro schema node. A named type is one Node however often
// the schema refers to it, so a recursive schema is a cyclic tree.
type Node struct {
	// Type is a primitive type name, or record, enum, array, map, fixed or
	// union. An Avro error is a record.
	Type string
	// Name is the full name of a named type (record, enum, fixed).
	Name string
	// Props are the schema object's attributes other than the ones
	// holding nested schemas (type, fields, items, values); nil for a
	// type given by name alone and for a union.
	Props  map[string]any
	Fields []Field
	Size   int64   // fixed: the size in bytes
	Items  *Node   // array items, map values
	Union  []*Node // union branches
}

// Field is one field of a record.
type Field struct {
	Name string
	Type *Node
}

// Prop returns the string attribute key of the schema object, or "".
func (n *Node) Prop(key string) string {
	s, _ := n.Props[key].(string)
	return s
}

// maxDepth bounds the nesting of a schema and of a datum, so that neither
// can exhaust the stack.
const maxDepth = 64

// Parse parses an Avro schema text, resolving references to named types.
func Parse(text string) (*Node, error) {
	var tree any
	if err := json.Unmarshal([]byte(text), &tree); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	return ParseJSON(tree)
}

// ParseJSON parses an Avro schema already decoded by encoding/json into
// any. It does not modify tree, and the Node keeps no reference into it.
func ParseJSON(tree any) (*Node, error) {
	p := &parser{named: map[string]*Node{}}
	return p.parse(tree, "")
}

type parser struct {
	named map[string]*Node
	depth int
}

var primitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

func (p *parser) parse(s any, ns string) (*Node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, fmt.Errorf("schema nested deeper than %d levels", maxDepth)
	}
	switch st := s.(type) {
	case string:
		if primitives[st] {
			return &Node{Type: st}, nil
		}
		if n := p.named[st]; n != nil {
			return n, nil
		}
		if ns != "" && !strings.Contains(st, ".") {
			if n := p.named[ns+"."+st]; n != nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("unknown type %q", st)
	case []any:
		u := &Node{Type: "union"}
		for _, b := range st {
			bn, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.Union = append(u.Union, bn)
		}
		return u, nil
	case map[string]any:
		return p.parseObject(st, ns)
	}
	return nil, fmt.Errorf("unexpected schema element %T", s)
}

func (p *parser) parseObject(m map[string]any, ns string) (*Node, error) {
	typ, ok := m["type"].(string)
	if !ok {
		// {"type": {...}}: a wrapped schema.
		return p.parse(m["type"], ns)
	}
	n := &Node{Type: typ, Props: map[string]any{}}
	for k, v := range m {
		switch k {
		case "type", "fields", "items", "values":
		default:
			n.Props[k] = v
		}
	}
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := m["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s without a name", typ)
		}
		if nsp, ok := m["namespace"].(string); ok {
			ns = nsp
		}
		full := name
		if strings.Contains(name, ".") {
			ns = name[:strings.LastIndex(name, ".")]
		} else if ns != "" {
			full = ns + "." + name
		}
		n.Name = full
		p.named[full] = n
		if typ == "fixed" {
			size, err := fixedSize(m["size"])
			if err != nil {
				return nil, fmt.Errorf("fixed %s: %w", full, err)
			}
			n.Size = size
		}
		if typ == "error" {
			n.Type = "record"
		}
		if n.Type == "record" {
			fields, _ := m["fields"].([]any)
			for _, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s: field is %T", full, f)
				}
				fname, _ := fm["name"].(string)
				fn, err := p.parse(fm["type"], ns)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", full, fname, err)
				}
				n.Fields = append(n.Fields, Field{Name: fname, Type: fn})
			}
		}
	case "array":
		it, err := p.parse(m["items"], ns)
		if err != nil {
			return nil, err
		}
		n.Items = it
	case "map":
		it, err := p.parse(m["values"], ns)
		if err != nil {
			return nil, err
		}
		n.Items = it
	default:
		if !primitives[typ] {
			if named := p.named[typ]; named != nil {
				return named, nil
			}
			return nil, fmt.Errorf("unknown type %q", typ)
		}
	}
	return n, nil
}

// fixedSize reads a fixed type's size as goavro does: a number above zero
// (truncated) or a decimal string.
func fixedSize(v any) (int64, error) {
	var size float64
	switch s := v.(type) {
	case float64:
		if s <= 0 {
			return 0, fmt.Errorf("size %v is not above zero", s)
		}
		size = math.Trunc(s)
	case string:
		u, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("size %q: %w", s, err)
		}
		size = float64(u)
	default:
		return 0, fmt.Errorf("size is %T, not a number", v)
	}
	if size > math.MaxInt32 {
		return 0, fmt.Errorf("size %v out of range", size)
	}
	return int64(size), nil
}
