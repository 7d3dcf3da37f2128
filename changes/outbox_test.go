package changes

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/schema"
)

// TestDecodeOutboxEvent decodes a record shaped as the outbox router
// writes it: the aggregate id (a varchar) as the key, the jsonb payload as
// the value, the event id and type as headers.
func TestDecodeOutboxEvent(t *testing.T) {
	_, reg, cl := newRegistry(t)
	ctx := context.Background()
	keyID, err := reg.Register(ctx, "outbox.event.order-key", `"string"`)
	if err != nil {
		t.Fatal(err)
	}
	valID, err := reg.Register(ctx, "outbox.event.order-value", `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}`)
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: "outbox.event.order",
		Key:   schema.AppendString(schema.AppendWireHeader(nil, keyID), "1001"),
		Value: schema.AppendString(schema.AppendWireHeader(nil, valID), `{"id": 1001, "total": "42.50"}`),
		Headers: []kgo.RecordHeader{{Key: "id", Value: []byte("406c07f3-26f0-4eea-a50c-109940064b8f")},
			{Key: "type", Value: []byte("OrderPlaced")}},
	}
	ev, err := NewDecoder(cl).Decode(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindOther || ev.Key != nil || ev.KeyValue != "1001" {
		t.Fatalf("kind %v key %v keyValue %#v", ev.Kind, ev.Key, ev.KeyValue)
	}
	if typ, ok := ev.Header("type"); !ok || typ != "OrderPlaced" {
		t.Errorf("type header %q %v", typ, ok)
	}
	if _, ok := ev.Header("missing"); ok {
		t.Error("a missing header was found")
	}
	var payload struct {
		ID    int64
		Total json.Number
	}
	if err := ev.DecodeValue(&payload); err != nil || payload.ID != 1001 || payload.Total != "42.50" {
		t.Errorf("payload %+v: %v", payload, err)
	}
	var s string
	if err := (&Event{Value: "text"}).DecodeValue(&s); err != nil || s != "text" {
		t.Errorf("scalar value %q: %v", s, err)
	}
	if err := (&Event{}).DecodeValue(&s); !errors.Is(err, ErrNoImage) {
		t.Errorf("no value: %v", err)
	}
}
