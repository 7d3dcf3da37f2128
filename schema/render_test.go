package schema

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// TestRender encodes a change event with the Codec, registers its schema
// in an in-process registry, and renders it as `sluice tail` prints it.
func TestRender(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	reg, err := NewRegistry(RegistryOptions{URL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	tbl := &Table{ID: TableID{"public", "t"}, Key: []int{0}, Columns: []Column{
		{Name: "id", Type: "int8", TypeMod: -1},
		{Name: "price", Type: "numeric", TypeMod: (10<<16 | 2) + 4, Nullable: true},
		{Name: "free", Type: "numeric", TypeMod: -1, Nullable: true},
		{Name: "ratio", Type: "float8", TypeMod: -1, Nullable: true},
		{Name: "blob", Type: "bytea", TypeMod: -1, Nullable: true},
		{Name: "at", Type: "timestamp", TypeMod: -1, Nullable: true},
		{Name: "day", Type: "date", TypeMod: -1, Nullable: true},
		{Name: "note", Type: "text", TypeMod: -1, Nullable: true},
	}}
	c, err := NewCodec("demo.public.t", tbl, CodecOptions{Kind: Postgres, Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := reg.Register(ctx, "demo.public.t-value", c.ValueSchema)
	if err != nil {
		t.Fatal(err)
	}
	row := []any{[]byte("7"), []byte("19.99"), []byte("-1.005"), []byte("NaN"), []byte(`\x00ff`), []byte("2024-01-02 03:04:05.123456"), []byte("1970-01-11"), nil}
	val, err := c.AppendValue(AppendWireHeader(nil, id), &Event{Op: 'c', After: row, Source: &SourceInfo{TsMs: 1}, TsMs: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewDecoder(reg).Render(ctx, val)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Before any            `json:"before"`
		After  map[string]any `json:"after"`
		Op     string         `json:"op"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]any{"id": 7.0, "price": "19.99", "free": "-1.005", "ratio": "NaN", "blob": "AP8=",
		"at": 1704164645123456.0, "day": 10.0, "note": nil}
	for k, w := range want {
		if got.After[k] != w {
			t.Errorf("after.%s = %#v, want %#v (%s)", k, got.After[k], w, out)
		}
	}
	if got.Op != "c" || got.Before != nil {
		t.Errorf("op %q before %v", got.Op, got.Before)
	}
	// Fields keep the schema's order.
	if i, j := indexOf(out, `"before"`), indexOf(out, `"after"`); i < 0 || j < i {
		t.Errorf("field order: %s", out)
	}
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}
