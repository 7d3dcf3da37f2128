package changes

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sluicecdc/sluice/internal/avrowalk"
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

// parseSchema parses an Avro schema text into the tree avrowalk checks
// binary data against, the nodes conversion goes by, and the decoded
// JSON (for stripLogical).
func parseSchema(text string) (*avrowalk.Node, *node, any, error) {
	var tree any
	if err := json.Unmarshal([]byte(text), &tree); err != nil {
		return nil, nil, nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	walk, err := avrowalk.ParseJSON(tree)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := semantic(walk, map[*avrowalk.Node]*node{})
	if err != nil {
		return nil, nil, nil, err
	}
	return walk, n, tree, nil
}

// semantic builds the node of w, reading its Kafka Connect attributes. A
// named type is built once (seen), as avrowalk parses it once.
func semantic(w *avrowalk.Node, seen map[*avrowalk.Node]*node) (*node, error) {
	if n := seen[w]; n != nil {
		return n, nil
	}
	n := &node{typ: w.Type, name: w.Name, connect: w.Prop("connect.name"), connectType: w.Prop("connect.type")}
	seen[w] = n
	if w.Prop("logicalType") == "decimal" || n.connect == "org.apache.kafka.connect.data.Decimal" {
		n.decimal = true
		if params, ok := w.Props["connect.parameters"].(map[string]any); ok {
			if s, ok := params["scale"].(string); ok {
				v, err := strconv.Atoi(s)
				if err != nil {
					return nil, fmt.Errorf("decimal connect.parameters scale %q: %w", s, err)
				}
				n.scale = v
			}
		}
		if f, ok := w.Props["scale"].(float64); ok {
			n.scale = int(f)
		}
		if n.scale < 0 || n.scale > 1000 {
			return nil, fmt.Errorf("decimal scale %d out of range", n.scale)
		}
	}
	for _, f := range w.Fields {
		fn, err := semantic(f.Type, seen)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", w.Name, f.Name, err)
		}
		n.fields = append(n.fields, fieldNode{name: f.Name, n: fn})
	}
	if w.Items != nil {
		it, err := semantic(w.Items, seen)
		if err != nil {
			return nil, err
		}
		n.items = it
	}
	for _, b := range w.Union {
		bn, err := semantic(b, seen)
		if err != nil {
			return nil, err
		}
		n.union = append(n.union, bn)
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
