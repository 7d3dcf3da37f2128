package schema

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicecdc/sluice/internal/avrowalk"
)

// newFakeRegistry returns a Registry backed by an in-process registry.
func newFakeRegistry(t testing.TB) *Registry {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := NewRegistry(RegistryOptions{URL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

const blocksSchema = `{"type":"record","name":"blocks","namespace":"sluice.test","fields":[
	{"name":"a","type":{"type":"array","items":"long"}},
	{"name":"m","type":{"type":"map","values":"string"}}]}`

// TestDecoderRefusesOversizedBlock: a record whose array or map block
// claims more items than bytes are left is refused, naming the schema id,
// before goavro preallocates room for the claimed items (2^31 of them
// would be 32 GiB).
func TestDecoderRefusesOversizedBlock(t *testing.T) {
	reg := newFakeRegistry(t)
	ctx := context.Background()
	id, err := reg.Register(ctx, "sluice.test.blocks-value", blocksSchema)
	if err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(reg)
	frame := func(payload []byte) []byte { return append(AppendWireHeader(nil, id), payload...) }
	long := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = AppendLong(b, v)
		}
		return b
	}

	// A valid record: a = [1, 2], m = {"k": "v"}.
	good := append(long(2, 1, 2, 0, 1), AppendString(AppendString(nil, "k"), "v")...)
	good = append(good, 0)
	got, err := dec.Native(ctx, frame(good))
	if err != nil {
		t.Fatalf("valid record: %v", err)
	}
	want := map[string]any{"a": []any{int64(1), int64(2)}, "m": map[string]any{"k": "v"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("valid record: %#v, want %#v", got, want)
	}

	const max = 1<<31 - 1
	for _, tc := range []struct {
		name    string
		payload []byte
		want    avrowalk.BlockError
	}{
		{"array of 2^31-1 items in no bytes", long(max), avrowalk.BlockError{Type: "array", Count: max, Left: 0}},
		{"array block with a byte size", append(long(-max, 8), 2, 4), avrowalk.BlockError{Type: "array", Count: max, Left: 2}},
		{"array of 5 items in 3 bytes", long(5, 1, 2, 3), avrowalk.BlockError{Type: "array", Count: 5, Left: 3}},
		{"second array block", long(1, 7, max), avrowalk.BlockError{Type: "array", Count: max, Left: 0}},
		{"map of 2^31-1 items", append(long(0, max), 2, 'k', 2, 'v'), avrowalk.BlockError{Type: "map", Count: max, Left: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []struct {
				name string
				fn   func(context.Context, []byte) error
			}{
				{"Native", func(ctx context.Context, b []byte) error { _, err := dec.Native(ctx, b); return err }},
				{"Render", func(ctx context.Context, b []byte) error { _, err := dec.Render(ctx, b); return err }},
				{"JSON", func(ctx context.Context, b []byte) error { _, err := dec.JSON(ctx, b); return err }},
			} {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				err := method.fn(ctx, frame(tc.payload))
				runtime.ReadMemStats(&after)
				var be *avrowalk.BlockError
				if !errors.As(err, &be) || *be != tc.want {
					t.Fatalf("%s: error %v, want %v", method.name, err, &tc.want)
				}
				if msg, want := err.Error(), fmt.Sprintf("schema id %d: Avro data does not match the schema: %v", id, &tc.want); msg != want {
					t.Errorf("%s: error %q, want %q", method.name, msg, want)
				}
				if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
					t.Errorf("%s: refusing the record allocated %d bytes", method.name, n)
				}
			}
		})
	}
}
