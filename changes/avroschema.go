package changes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// node is one Avro schema node, with what its Debezium semantic type
// needs for conversion. Values are converted by connect.name; logical
// types are stripped before goavro sees the schema (see stripLogical), so
// goavro always returns the physical value.
type node struct {
	typ         string // Avro type: a primitive, record, enum, array, map, fixed, or union
	name        string // full name of a named type
	connect     string // connect.name
	connectType string // connect.type (int8, int16)
	decimal     bool   // Connect Decimal, or logicalType decimal
	scale       int
	fields      []fieldNode
	items       *node   // array items, map values
	union       []*node // union branches
}

type fieldNode struct {
	name string
	n    *node
}

// branchName is the key goavro uses for a union branch's value.
func (n *node) branchName() string {
	if n.name != "" {
		return n.name
	}
	return n.typ
}

// parseSchema parses an Avro schema text into nodes, resolving named
// references.
func parseSchema(text string) (*node, any, error) {
	var tree any
	if err := json.Unmarshal([]byte(text), &tree); err != nil {
		return nil, nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	p := &parser{named: map[string]*node{}}
	n, err := p.parse(tree, "")
	if err != nil {
		return nil, nil, err
	}
	return n, tree, nil
}

type parser struct {
	named map[string]*node
	depth int
}

var primitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

func (p *parser) parse(s any, ns string) (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 64 {
		return nil, fmt.Errorf("schema nested deeper than 64 levels")
	}
	switch st := s.(type) {
	case string:
		if primitives[st] {
			return &node{typ: st}, nil
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
		u := &node{typ: "union"}
		for _, b := range st {
			bn, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.union = append(u.union, bn)
		}
		return u, nil
	case map[string]any:
		return p.parseObject(st, ns)
	}
	return nil, fmt.Errorf("unexpected schema element %T", s)
}

func (p *parser) parseObject(m map[string]any, ns string) (*node, error) {
	typ, ok := m["type"].(string)
	if !ok {
		// {"type": {...}}: a wrapped schema.
		return p.parse(m["type"], ns)
	}
	n := &node{typ: typ}
	n.connect, _ = m["connect.name"].(string)
	n.connectType, _ = m["connect.type"].(string)
	if lt, _ := m["logicalType"].(string); lt == "decimal" || n.connect == "org.apache.kafka.connect.data.Decimal" {
		n.decimal = true
		if params, ok := m["connect.parameters"].(map[string]any); ok {
			if s, ok := params["scale"].(string); ok {
				v, err := strconv.Atoi(s)
				if err != nil {
					return nil, fmt.Errorf("decimal connect.parameters scale %q: %w", s, err)
				}
				n.scale = v
			}
		}
		if f, ok := m["scale"].(float64); ok {
			n.scale = int(f)
		}
		if n.scale < 0 || n.scale > 1000 {
			return nil, fmt.Errorf("decimal scale %d out of range", n.scale)
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
		n.name = full
		p.named[full] = n
		if typ == "error" {
			n.typ = "record"
		}
		if n.typ == "record" {
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
				n.fields = append(n.fields, fieldNode{name: fname, n: fn})
			}
		}
	case "array":
		it, err := p.parse(m["items"], ns)
		if err != nil {
			return nil, err
		}
		n.items = it
	case "map":
		it, err := p.parse(m["values"], ns)
		if err != nil {
			return nil, err
		}
		n.items = it
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

// stripLogical removes every logicalType from a parsed schema, so that
// goavro returns physical values (int days, long micros, bytes) whatever
// logical types a producer declared; conversion then goes by connect.name
// alone and a schema with and without logical types decode alike.
func stripLogical(s any) {
	switch st := s.(type) {
	case []any:
		for _, e := range st {
			stripLogical(e)
		}
	case map[string]any:
		delete(st, "logicalType")
		for k, v := range st {
			if k == "default" || k == "connect.parameters" || k == "connect.default" {
				continue
			}
			stripLogical(v)
		}
	}
}
