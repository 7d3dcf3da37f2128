package changes

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicecdc/sluice/schema"
)

// staticSchemas serves fixed schemas by id, without a registry.
type staticSchemas map[int]string

func (s staticSchemas) SchemaByID(_ context.Context, id int) (sr.Schema, error) {
	if text, ok := s[id]; ok {
		return sr.Schema{Schema: text}, nil
	}
	return sr.Schema{}, fmt.Errorf("no schema %d", id)
}

// FuzzDecode feeds arbitrary key and value bytes (untrusted: anything on
// a topic) to the Decoder with the schemas of a table holding every
// Postgres type, with and without logical types. It must return an event
// or an error, never panic, and a decoded image must go through
// DecodeInto.
func FuzzDecode(f *testing.F) {
	tbl, row := pgTypesTable()
	c, err := schema.NewCodec("demo.public.types", tbl, schema.CodecOptions{Kind: schema.Postgres, Name: "demo"})
	if err != nil {
		f.Fatal(err)
	}
	schemas := staticSchemas{1: c.KeySchema, 2: c.ValueSchema, 3: dropLogical(f, c.ValueSchema)}
	key, err := c.AppendKey(schema.AppendWireHeader(nil, 1), row)
	if err != nil {
		f.Fatal(err)
	}
	for _, id := range []int{2, 3} {
		for _, op := range []byte{'c', 'u', 'd'} {
			e := &schema.Event{Op: op, After: row, Source: &schema.SourceInfo{TsMs: 1, LSN: 2, TxID: 3}}
			if op != 'c' {
				e.Before = row
			}
			if op == 'd' {
				e.After = nil
			}
			val, err := c.AppendValue(schema.AppendWireHeader(nil, id), e)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(key, val)
		}
	}
	f.Add(key, []byte(nil))
	f.Add([]byte{0, 0, 0, 0, 1}, []byte{0, 0, 0, 0, 2, 0})
	dec := NewDecoder(schemas)
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if value == nil {
			value = []byte{} // nil is a tombstone; keep the fuzzer on payloads
		}
		ev, err := dec.Decode(context.Background(), &kgo.Record{Topic: "demo.public.types", Key: key, Value: value})
		if err != nil {
			return
		}
		var sink struct {
			ID  int64
			Caa any
			Cab int64
			Cag *string
		}
		val, _ := ev.Value.(map[string]any)
		for _, img := range []map[string]any{ev.Key, ev.Before, ev.After, val} {
			if img != nil {
				_ = DecodeInto(img, &sink)
			}
		}
	})
}

// FuzzParseZonedTimestamp checks the strict ISO-8601 parser against
// time.Parse wherever both accept the text (time.Parse also takes
// one-digit hours, Sluice never writes them).
func FuzzParseZonedTimestamp(f *testing.F) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456+02:00", "+10000-01-01T00:00:00Z",
		"-0043-03-15T12:00:00Z", "2024-01-02T03:04:05-03:30:15"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseZonedTimestamp(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if err == nil && werr == nil && !got.Equal(want) {
			t.Errorf("%q: got %v %v, time.Parse %v", s, got, err, want)
		}
	})
}
