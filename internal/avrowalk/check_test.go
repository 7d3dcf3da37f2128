package avrowalk

import (
	"encoding/binary"
	"errors"
	"testing"
)

func long(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestCheck walks valid datums and refuses malformed ones, each with the
// error that names its problem.
func TestCheck(t *testing.T) {
	const max = 1<<31 - 1
	fixedThenArray := `{"type":"record","name":"r","fields":[
		{"name":"f","type":{"type":"fixed","name":"four","size":4}},
		{"name":"a","type":{"type":"array","items":"long"}}]}`
	list := `{"type":"record","name":"node","fields":[
		{"name":"v","type":"int"},{"name":"next","type":["null","node"]}]}`
	for _, tc := range []struct {
		name   string
		schema string
		datum  []byte
		block  *BlockError // want a *BlockError equal to this
		err    error       // or want errors.Is this
		fails  bool        // or want any error
	}{
		{name: "primitives", schema: `{"type":"record","name":"p","fields":[{"name":"n","type":"null"},{"name":"b","type":"boolean"},
			{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
			{"name":"s","type":"string"},{"name":"y","type":"bytes"}]}`,
			datum: cat([]byte{1}, long(-3, 1<<40), make([]byte, 12), long(2), []byte("hi"), long(0))},
		{name: "map", schema: `{"type":"map","values":"long"}`, datum: cat(long(-1, 3), []byte{2, 'k'}, long(5, 0))},
		{name: "recursive record", schema: list, datum: long(1, 1, 2, 1, 3, 0)},
		{name: "fixed keeps the walk aligned", schema: fixedThenArray, datum: cat([]byte{0, 0, 0, 0}, long(1, 9, 0))},
		{name: "fixed then a huge array block", schema: fixedThenArray, datum: cat([]byte{0, 0, 0, 0}, long(max)),
			block: &BlockError{Type: "array", Count: max, Left: 0}},
		{name: "fixed cut short", schema: fixedThenArray, datum: []byte{0, 0}, err: ErrShort},
		{name: "array block of 3 items in 2 bytes", schema: `{"type":"array","items":"long"}`, datum: long(3, 1, 1),
			block: &BlockError{Type: "array", Count: 3, Left: 2}},
		{name: "negative block count", schema: `{"type":"array","items":"long"}`, datum: long(-max, 1),
			block: &BlockError{Type: "array", Count: max, Left: 0}},
		{name: "most negative block count", schema: `{"type":"array","items":"long"}`, datum: long(-1 << 63), fails: true},
		{name: "map block", schema: `{"type":"map","values":"long"}`, datum: cat(long(max), []byte{2, 'k'}),
			block: &BlockError{Type: "map", Count: max, Left: 2}},
		{name: "string cut short", schema: `"string"`, datum: cat(long(5), []byte("abc")), err: ErrShort},
		{name: "negative length", schema: `"bytes"`, datum: long(-1), fails: true},
		{name: "union branch out of range", schema: `["null","long"]`, datum: long(2), fails: true},
		{name: "empty", schema: `"long"`, datum: nil, err: ErrShort},
		{name: "nested deeper than 64", schema: list, datum: cat(func() []byte {
			var b []byte
			for range 40 {
				b = append(b, long(1, 1)...)
			}
			return b
		}(), long(1, 0)), fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse(tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(n, tc.datum)
			var be *BlockError
			switch {
			case tc.block != nil:
				if !errors.As(err, &be) || *be != *tc.block {
					t.Errorf("error %v, want %v", err, tc.block)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Errorf("error %v, want %v", err, tc.err)
				}
			case tc.fails:
				if err == nil {
					t.Error("accepted")
				}
			case err != nil:
				t.Errorf("valid datum refused: %v", err)
			}
		})
	}
}

// TestParse resolves named types by full and namespace-relative name and
// keeps attributes, and refuses schemas it cannot walk.
func TestParse(t *testing.T) {
	n, err := Parse(`{"type":"record","name":"r","namespace":"ns","connect.name":"ns.r","fields":[
		{"name":"a","type":{"type":"fixed","name":"f","size":"2"}},
		{"name":"b","type":"f"},{"name":"c","type":"ns.f"},
		{"name":"d","type":{"type":"long","logicalType":"timestamp-millis"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "ns.r" || n.Prop("connect.name") != "ns.r" || len(n.Fields) != 4 {
		t.Fatalf("parsed %+v", n)
	}
	f := n.Fields[0].Type
	if f.Name != "ns.f" || f.Size != 2 || n.Fields[1].Type != f || n.Fields[2].Type != f {
		t.Errorf("fixed %+v, references %p %p", f, n.Fields[1].Type, n.Fields[2].Type)
	}
	if d := n.Fields[3].Type; d.Type != "long" || d.Prop("logicalType") != "timestamp-millis" {
		t.Errorf("long %+v", d)
	}
	for _, bad := range []string{
		`{"type":`,
		`"nope"`,
		`{"type":"record","fields":[]}`,
		`{"type":"fixed","name":"f"}`,
		`{"type":"fixed","name":"f","size":0}`,
		`{"type":"fixed","name":"f","size":1e12}`,
		`{"type":"array","items":"nope"}`,
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
