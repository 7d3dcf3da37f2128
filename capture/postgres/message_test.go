package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pglogrepl"

	"github.com/sluicecdc/sluice/schema"
)

func messageTable() *schema.Table {
	return &schema.Table{ID: schema.TableID{Namespace: "pg_logical_emit_message", Name: "sluice.outbox"}, Columns: []schema.Column{
		{Name: "id", Type: "text"}, {Name: "aggregatetype", Type: "text"}, {Name: "aggregateid", Type: "text"}, {Name: "type", Type: "text"},
		{Name: "payload", Type: "jsonb", Nullable: true},
	}}
}

func TestMessageRow(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // nil entries: NULL
		err  bool
	}{
		{name: "full", body: `{"id":"e1","aggregatetype":"Order","aggregateid":"1","type":"OrderCreated","payload":{"a":[1,2]}}`,
			want: []string{"e1", "Order", "1", "OrderCreated", `{"a":[1,2]}`}},
		{name: "id from the LSN, no payload", body: `{"aggregatetype":"Order","aggregateid":"1","type":"T"}`,
			want: []string{"0/16B3748", "Order", "1", "T", "\x00"}},
		{name: "payload a string", body: `{"aggregatetype":"O","aggregateid":"1","type":"T","payload":"x"}`,
			want: []string{"0/16B3748", "O", "1", "T", `"x"`}},
		{name: "missing key", body: `{"aggregatetype":"O","type":"T"}`, err: true},
		{name: "key not a string", body: `{"aggregatetype":"O","aggregateid":1,"type":"T"}`, err: true},
		{name: "not an object", body: `[1]`, err: true},
		{name: "two values", body: `{"aggregatetype":"O","aggregateid":"1","type":"T"} {}`, err: true},
		{name: "empty", body: ``, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, err := messageRow(messageTable(), []byte(tt.body), pglogrepl.LSN(0x16B3748))
			var ve *schema.ValueError
			if tt.err {
				if !errors.As(err, &ve) || !errors.Is(err, errMessageBody) {
					t.Fatalf("err = %v, want a *schema.ValueError wrapping errMessageBody", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				switch {
				case w == "\x00":
					if row[i] != nil {
						t.Errorf("column %d = %q, want NULL", i, row[i])
					}
				case string(row[i].([]byte)) != w:
					t.Errorf("column %d = %q, want %q", i, row[i], w)
				}
			}
		})
	}
}

// FuzzMessageRow: a message body, which any session may write, never
// panics the decoder, and every value it accepts is text.
func FuzzMessageRow(f *testing.F) {
	f.Add([]byte(`{"id":"e1","aggregatetype":"Order","aggregateid":"1","type":"OrderCreated","payload":{"a":[1,2]}}`))
	f.Add([]byte(`{"aggregatetype":"Order","aggregateid":"1","type":"T","payload":null}`))
	f.Add([]byte(`{"aggregatetype":"\u0000","aggregateid":"","type":"T"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		row, err := messageRow(messageTable(), body, pglogrepl.LSN(1))
		if err != nil {
			return
		}
		for i, v := range row {
			if v == nil && i != 4 {
				t.Fatalf("column %d NULL in an accepted body %q", i, body)
			}
			if v != nil {
				if _, ok := v.([]byte); !ok {
					t.Fatalf("column %d is %T", i, v)
				}
			}
		}
	})
}
