package transform

import (
	"fmt"
	"strings"

	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
)

// outboxSpec is one outbox entry: Debezium's EventRouter.
type outboxSpec struct {
	entry     int
	table     string
	id        string // column names
	key       string
	typ       string
	payload   string
	routeBy   string
	topic     string // pattern with ${routedByValue}
	headers   []placement
	envelope  []placement
	failOnUpd bool
}

// placement is one additional_placement entry.
type placement struct{ column, alias string }

// routedByValue is the placeholder of the topic pattern, as Debezium's
// route.topic.replacement writes it.
const routedByValue = "${routedByValue}"

func newOutbox(entry int, t *config.Transform) (*outboxSpec, error) {
	o := &outboxSpec{entry: entry, table: t.Table, id: t.IDColumn, key: t.KeyColumn, typ: t.TypeColumn, payload: t.PayloadColumn,
		routeBy: t.RouteByColumn, topic: t.Topic, failOnUpd: t.OnUpdate == "fatal"}
	for _, a := range t.AdditionalPlacement {
		col, env, alias, err := config.ParsePlacement(a)
		if err != nil {
			return nil, &config.Error{Key: config.TransformKey(entry, "additional_placement"), Value: a, Msg: err.Error()}
		}
		if env {
			o.envelope = append(o.envelope, placement{col, alias})
		} else {
			o.headers = append(o.headers, placement{col, alias})
		}
	}
	return o, nil
}

// MessageNamespace is the namespace of the tables that outbox messages
// (pg_logical_emit_message with an outbox prefix) arrive as.
const MessageNamespace = "pg_logical_emit_message"

// MessageTableID names the table the outbox messages with prefix arrive
// as.
func MessageTableID(prefix string) schema.TableID {
	return schema.TableID{Namespace: MessageNamespace, Name: prefix}
}

// MessageTables returns, for each outbox entry with a prefix, the table
// its messages arrive as (capture/postgres.Messages): the entry's id,
// routing, key and type columns as text, and its payload column as
// jsonb (NULL when the message has none), in that order.
func MessageTables(cfgs []config.Transform) map[string]*schema.Table {
	out := map[string]*schema.Table{}
	for _, t := range cfgs {
		if t.Type != config.TransformOutbox || t.Prefix == "" {
			continue
		}
		text := func(name string) schema.Column {
			return schema.Column{Name: name, Type: "text", OID: 25, TypeMod: -1}
		}
		out[t.Prefix] = &schema.Table{
			ID: MessageTableID(t.Prefix),
			Columns: []schema.Column{text(t.IDColumn), text(t.RouteByColumn), text(t.KeyColumn), text(t.TypeColumn),
				{Name: t.PayloadColumn, Type: "jsonb", OID: 3802, TypeMod: -1, Nullable: true}},
		}
	}
	return out
}

// check reports the first column the router needs that the table version
// does not emit.
func (o *outboxSpec) check(t *schema.Table, exclude map[string]bool) error {
	need := []struct{ key, column string }{
		{"id_column", o.id}, {"key_column", o.key}, {"type_column", o.typ}, {"payload_column", o.payload}, {"route_by_column", o.routeBy},
	}
	for _, p := range o.headers {
		need = append(need, struct{ key, column string }{"additional_placement", p.column})
	}
	for _, p := range o.envelope {
		need = append(need, struct{ key, column string }{"additional_placement", p.column})
	}
	for _, n := range need {
		if t.Column(n.column) < 0 || exclude[n.column] {
			var have []string
			for i := range t.Columns {
				if !exclude[t.Columns[i].Name] {
					have = append(have, t.Columns[i].Name)
				}
			}
			return &config.Error{Key: config.TransformKey(o.entry, n.key), Value: n.column,
				Msg: fmt.Sprintf("is not a column of the outbox table %s (it has %s); name the column that holds it, or add the column to the table",
					o.table, strings.Join(have, ", "))}
		}
	}
	return nil
}

// topicFor returns the topic of an outbox row's event.
func (o *outboxSpec) topicFor(routed string) (string, error) {
	topic := strings.ReplaceAll(o.topic, routedByValue, routed)
	if !validTopic(topic) {
		return "", fmt.Errorf("outbox table %s: %s %q gives topic %q, which is not a valid Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')",
			o.table, o.routeBy, routed, topic)
	}
	return topic, nil
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// keySchema is the record key's schema: the key column's type, as
// Debezium takes the key's schema from the column.
func (o *outboxSpec) keySchema(codec *schema.Codec) string {
	ct, col, _ := codec.Column(o.key)
	return mustJSON(fieldType(col, ct))
}

// valueSchema is the record value's schema: the payload column's type
// when nothing is placed in the envelope (Debezium's default), else a
// record of the payload and the envelope fields, named as Debezium names
// it (<the table's Value namespace>.<routed value>.Value).
func (o *outboxSpec) valueSchema(codec *schema.Codec, routed string) string {
	ct, col, _ := codec.Column(o.payload)
	if len(o.envelope) == 0 {
		return mustJSON(fieldType(col, ct))
	}
	base := codec.ValueRecord()
	ns, _ := base["namespace"].(string)
	ns += "." + schema.AvroName(routed)
	fields := []any{schema.ColumnField("payload", col, ct)}
	for _, p := range o.envelope {
		ct, col, _ := codec.Column(p.column)
		fields = append(fields, schema.ColumnField(schema.AvroName(p.alias), col, ct))
	}
	return mustJSON(map[string]any{"type": "record", "name": "Value", "namespace": ns, "connect.name": ns + ".Value", "fields": fields})
}

// fieldType is the Avro type of a column on its own: a union with null
// when it is nullable (Kafka Connect's optional schema, as Confluent's
// AvroConverter writes it).
func fieldType(col *schema.Column, ct schema.ColumnType) any {
	f := schema.ColumnField("x", col, ct)
	return f["type"]
}

// headerText is a header's value: the column value's text (Kafka
// Connect's SimpleHeaderConverter writes a string as its UTF-8 bytes),
// nil for NULL.
func headerText(v any) []byte {
	if v == nil || v == schema.Unchanged {
		return nil
	}
	return append([]byte(nil), valueText(v)...)
}
