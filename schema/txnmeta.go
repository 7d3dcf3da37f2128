package schema

import (
	"encoding/json"
)

// Transaction metadata, as Debezium's provide.transaction.metadata writes
// it: a block in every change event of a source transaction, and BEGIN and
// END events on the <name>.transaction topic.

// TxnBlock is the envelope's transaction block (event.block): the source
// transaction's id, the event's place among the transaction's events, and
// its place among the transaction's events of the same table; both count
// from 1.
type TxnBlock struct {
	ID              string
	TotalOrder      int64
	CollectionOrder int64
}

// CollectionCount is the number of events of one table ("<ns>.<table>")
// in a transaction, in its END event.
type CollectionCount struct {
	Collection string
	Events     int64
}

// TxnMetaKeySchema is the key schema of the transaction topic.
var TxnMetaKeySchema = mustJSON(map[string]any{
	"type": "record", "name": "TransactionMetadataKey", "namespace": "io.debezium.connector.common",
	"connect.name": "io.debezium.connector.common.TransactionMetadataKey", "connect.version": 1,
	"fields": []any{field("id", "string")},
})

// TxnMetaValueSchema is the value schema of the transaction topic.
var TxnMetaValueSchema = mustJSON(map[string]any{
	"type": "record", "name": "TransactionMetadataValue", "namespace": "io.debezium.connector.common",
	"connect.name": "io.debezium.connector.common.TransactionMetadataValue", "connect.version": 1,
	"fields": []any{
		field("status", "string"),
		field("id", "string"),
		optField("event_count", []any{"null", "long"}),
		optField("data_collections", []any{"null", map[string]any{"type": "array", "items": map[string]any{
			"type": "record", "name": "collection", "namespace": "event",
			"connect.name": "event.collection", "connect.version": 1,
			"fields": []any{field("data_collection", "string"), field("event_count", "long")},
		}}}),
		field("ts_ms", "long"),
	},
})

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// AppendTxnMetaKey appends the Avro key of a transaction's BEGIN or END
// event.
func AppendTxnMetaKey(dst []byte, id string) []byte { return AppendString(dst, id) }

// AppendTxnBegin appends the Avro value of a BEGIN event.
func AppendTxnBegin(dst []byte, id string, tsMs int64) []byte {
	dst = AppendString(AppendString(dst, "BEGIN"), id)
	dst = AppendNullableNull(AppendNullableNull(dst))
	return AppendLong(dst, tsMs)
}

// AppendTxnEnd appends the Avro value of an END event: the transaction's
// event count, and per table in the order of their first event.
func AppendTxnEnd(dst []byte, id string, events int64, per []CollectionCount, tsMs int64) []byte {
	dst = AppendString(AppendString(dst, "END"), id)
	dst = AppendLong(AppendNullableSome(dst), events)
	dst = AppendNullableSome(dst)
	if len(per) > 0 {
		dst = AppendLong(dst, int64(len(per)))
		for _, c := range per {
			dst = AppendLong(AppendString(dst, c.Collection), c.Events)
		}
	}
	dst = AppendLong(dst, 0) // end of the array's blocks
	return AppendLong(dst, tsMs)
}
