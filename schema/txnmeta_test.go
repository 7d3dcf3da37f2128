package schema

import (
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// The transaction metadata encoders write what the registered schemas
// describe.
func TestTxnMetaEncoding(t *testing.T) {
	kc, err := goavro.NewCodec(TxnMetaKeySchema)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := goavro.NewCodec(TxnMetaValueSchema)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := kc.NativeFromBinary(AppendTxnMetaKey(nil, "571:53195829"))
	if err != nil || !reflect.DeepEqual(k, map[string]any{"id": "571:53195829"}) {
		t.Fatalf("key %v, %v", k, err)
	}
	v, rest, err := vc.NativeFromBinary(AppendTxnBegin(nil, "x", 42))
	want := map[string]any{"status": "BEGIN", "id": "x", "event_count": nil, "data_collections": nil, "ts_ms": int64(42)}
	if err != nil || len(rest) != 0 || !reflect.DeepEqual(v, want) {
		t.Fatalf("BEGIN %v (rest %d), %v; want %v", v, len(rest), err, want)
	}
	v, rest, err = vc.NativeFromBinary(AppendTxnEnd(nil, "x", 3, []CollectionCount{{"public.a", 2}, {"public.b", 1}}, 42))
	want = map[string]any{"status": "END", "id": "x", "event_count": map[string]any{"long": int64(3)},
		"data_collections": map[string]any{"array": []any{
			map[string]any{"data_collection": "public.a", "event_count": int64(2)},
			map[string]any{"data_collection": "public.b", "event_count": int64(1)},
		}}, "ts_ms": int64(42)}
	if err != nil || len(rest) != 0 || !reflect.DeepEqual(v, want) {
		t.Fatalf("END %v (rest %d), %v; want %v", v, len(rest), err, want)
	}
}
