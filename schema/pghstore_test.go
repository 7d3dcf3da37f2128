package schema

import (
	"encoding/json"
	"testing"
)

func TestPostgresHstoreLtreeTsvector(t *testing.T) {
	h := pgCol("hstore", -1)
	pgRunCases(t, []pgCase{
		{col: h, in: ``, want: `{}`},
		{col: h, in: `"a"=>"1"`, want: `{"a":"1"}`},
		{col: h, in: `"a"=>"1", "b"=>NULL`, want: `{"a":"1","b":null}`},
		{col: h, in: `"q\"k"=>"back\\slash", "<&>"=>"é 😀"`, want: `{"q\"k":"back\\slash","<&>":"é 😀"}`},
		{col: h, in: `"NULL"=>"NULL"`, want: `{"NULL":"NULL"}`},
		{col: h, in: `"a"=>"1","b"=>"2"`, err: errBad},
		{col: h, in: `a=>1`, err: errBad},
		{col: h, in: `"a"=>`, err: errBad},
		{col: h, in: `"a"=>"1`, err: errBad},
		{col: h, in: `"a"=>"1", `, err: errBad},
		{col: h, in: "\"a\"=>\"\xff\"", err: errUnrep},
		{col: pgCol("ltree", -1), in: "Top.Science.Astronomy", want: "Top.Science.Astronomy"},
		{col: pgCol("tsvector", -1), in: "'a' 'fat':2", want: "'a' 'fat':2"},
	})
	for typ, name := range map[string]string{"hstore": "io.debezium.data.Json", "ltree": "io.debezium.data.Ltree", "tsvector": "io.debezium.data.Tsvector"} {
		ct, err := PostgresColumnType(&Column{Type: typ, TypeMod: -1})
		if err != nil {
			t.Fatal(err)
		}
		if got := ct.Avro.(map[string]any)["connect.name"]; got != name {
			t.Errorf("%s: connect.name %v, want %s", typ, got, name)
		}
	}
	ct, _ := PostgresColumnType(&h)
	if got := pgDecode(t, pgCodecFor(t, ct.Avro), ct.Unavailable(AppendNullableSome(nil))); got != `{"__debezium_unavailable_value":"__debezium_unavailable_value"}` {
		t.Errorf("hstore placeholder %v", got)
	}
}

func FuzzPostgresHstore(f *testing.F) {
	for _, s := range []string{``, `"a"=>"1", "b"=>NULL`, `"q\"k"=>"back\\slash"`, `"a"=>"1`, `x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		got, ok := pgFuzzAppend(t, Column{Type: "hstore", TypeMod: -1}, text)
		if !ok {
			return
		}
		var m map[string]*string
		if err := json.Unmarshal([]byte(got.(string)), &m); err != nil {
			t.Fatalf("%q became %q, not a JSON object: %v", text, got, err)
		}
	})
}
