package postgres

import (
	"reflect"
	"testing"

	"github.com/jackc/pglogrepl"
)

// pglogrepl's decoding of data, or ok false when it fails or panics.
func pglogreplParse(data []byte) (msg pglogrepl.Message, ok bool) {
	defer func() {
		if recover() != nil {
			msg, ok = nil, false
		}
	}()
	m, err := pglogrepl.Parse(data)
	return m, err == nil
}

func changeSeeds() []pglogrepl.Message {
	return []pglogrepl.Message{
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"), text(""), text("{sad}"), null)},
		&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: 'K', OldTuple: tup(text("1"), null, null, null), NewTuple: tup(text("2"), text("sad"), null, unchanged)},
		&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: 'O', OldTuple: tup(text("1"), text("ok"), null, text("x")), NewTuple: tup(text("1"), text("new"), null, unchanged)},
		&pglogrepl.UpdateMessage{RelationID: 7, NewTuple: tup(text("1"))},
		&pglogrepl.DeleteMessage{RelationID: 7, OldTupleType: 'K', OldTuple: tup(text("1"), null, null, null)},
		&pglogrepl.DeleteMessage{RelationID: 7, OldTupleType: 'O', OldTuple: tup()},
	}
}

// TestParseChangeAsPglogrepl checks that parseChange decodes what
// pglogrepl decodes, to the same values.
func TestParseChangeAsPglogrepl(t *testing.T) {
	for _, m := range changeSeeds() {
		checkParseChange(t, wire(m), true)
	}
}

// FuzzParseChange compares parseChange with pglogrepl on any message
// checkLengths accepts, and checks that the decoded columns do not share
// capacity.
func FuzzParseChange(f *testing.F) {
	for _, m := range changeSeeds() {
		f.Add(wire(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkLengths(data) != nil {
			return
		}
		checkParseChange(t, data, false)
	})
}

func checkParseChange(t *testing.T, data []byte, mustDecode bool) {
	t.Helper()
	got, ok := parseChange(data)
	if !ok {
		if mustDecode {
			t.Fatalf("parseChange did not decode % x", data)
		}
		return
	}
	want, wok := pglogreplParse(data)
	if !wok {
		t.Fatalf("parseChange decoded % x, which pglogrepl refuses", data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseChange(% x) = %#v, pglogrepl %#v", data, got, want)
	}
	for _, td := range tuples(got) {
		for _, c := range td.Columns {
			if cap(c.Data) != len(c.Data) {
				t.Fatalf("column data of length %d has capacity %d", len(c.Data), cap(c.Data))
			}
		}
	}
}

func tuples(m pglogrepl.Message) []*pglogrepl.TupleData {
	switch m := m.(type) {
	case *pglogrepl.InsertMessage:
		return []*pglogrepl.TupleData{m.Tuple}
	case *pglogrepl.UpdateMessage:
		if m.OldTuple != nil {
			return []*pglogrepl.TupleData{m.OldTuple, m.NewTuple}
		}
		return []*pglogrepl.TupleData{m.NewTuple}
	case *pglogrepl.DeleteMessage:
		return []*pglogrepl.TupleData{m.OldTuple}
	}
	return nil
}
