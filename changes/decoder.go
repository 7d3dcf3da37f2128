package changes

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicecdc/sluice/internal/avrowalk"
)

// Schemas looks Avro schemas up by registry id. franz-go's *sr.Client
// implements it.
type Schemas interface {
	SchemaByID(ctx context.Context, id int) (sr.Schema, error)
}

// Decoder decodes Confluent-framed Avro records (magic byte 0, 4-byte
// big-endian schema id, Avro binary) into Events. It fetches each schema
// id from the registry once and keeps it for the Decoder's life: schema
// ids are immutable, so a new table version is a new id and old and new
// records decode side by side. A failed look-up is not cached. A Decoder
// is safe for concurrent use.
type Decoder struct {
	reg Schemas

	mu      sync.Mutex
	schemas map[int]*compiled
}

type compiled struct {
	codec *goavro.Codec
	walk  *avrowalk.Node // checked before goavro decodes
	root  *node
}

// NewDecoder returns a Decoder that looks schemas up in reg.
func NewDecoder(reg Schemas) *Decoder {
	return &Decoder{reg: reg, schemas: map[int]*compiled{}}
}

func (d *Decoder) schema(ctx context.Context, id int) (*compiled, error) {
	d.mu.Lock()
	c := d.schemas[id]
	d.mu.Unlock()
	if c != nil {
		return c, nil
	}
	s, err := d.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrSchema, id, err)
	}
	if s.Type != sr.TypeAvro {
		return nil, fmt.Errorf("%w: schema id %d is %s, not Avro", ErrSchema, id, s.Type)
	}
	walk, root, tree, err := parseSchema(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrSchema, id, err)
	}
	stripLogical(tree)
	physical, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrSchema, id, err)
	}
	codec, err := goavro.NewCodec(string(physical))
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrSchema, id, err)
	}
	c = &compiled{codec: codec, walk: walk, root: root}
	d.mu.Lock()
	d.schemas[id] = c
	d.mu.Unlock()
	return c, nil
}

// decode decodes one framed Avro datum: it returns the schema id, the
// schema's root and the converted value.
func (d *Decoder) decode(ctx context.Context, b []byte) (int, *node, any, error) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, nil, ErrWireFormat
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	c, err := d.schema(ctx, id)
	if err != nil {
		return id, nil, nil, err
	}
	if err := avrowalk.Check(c.walk, b[5:]); err != nil {
		return id, nil, nil, fmt.Errorf("%w: %w", ErrAvro, err)
	}
	native, rest, err := c.codec.NativeFromBinary(b[5:])
	if err != nil {
		return id, nil, nil, fmt.Errorf("%w: %w", ErrAvro, err)
	}
	if len(rest) != 0 {
		return id, nil, nil, fmt.Errorf("%w: %d bytes left after the record", ErrAvro, len(rest))
	}
	v, err := convert(c.root, native)
	if err != nil {
		return id, nil, nil, fmt.Errorf("%w: %w", ErrValue, err)
	}
	return id, c.root, v, nil
}

// Decode decodes a record's key and value into an Event. A null value is
// a tombstone; a value in the Debezium envelope (a record with before,
// after, source and op fields) a change; any other value KindOther.
// Errors are *DecodeError.
func (d *Decoder) Decode(ctx context.Context, r *kgo.Record) (*Event, error) {
	e := &Event{Record: r}
	fail := func(part string, id int, err error) (*Event, error) {
		return nil, &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Part: part, SchemaID: id, Err: err}
	}
	if r.Key != nil {
		id, _, v, err := d.decode(ctx, r.Key)
		if err != nil {
			return fail("key", id, err)
		}
		e.KeySchemaID = id
		if m, ok := v.(map[string]any); ok {
			e.Key = m
		} else {
			e.KeyValue = v
		}
	}
	if r.Value == nil {
		e.Kind = KindTombstone
		return e, nil
	}
	id, root, v, err := d.decode(ctx, r.Value)
	if err != nil {
		return fail("value", id, err)
	}
	e.ValueSchemaID = id
	m, _ := v.(map[string]any)
	if !isEnvelope(root) || m == nil {
		e.Kind, e.Value = KindOther, v
		return e, nil
	}
	if err := e.fromEnvelope(m); err != nil {
		return fail("value", id, fmt.Errorf("%w: %w", ErrValue, err))
	}
	return e, nil
}

// isEnvelope reports whether a value schema is the Debezium envelope.
func isEnvelope(n *node) bool {
	if n.typ != "record" {
		return false
	}
	have := 0
	for _, f := range n.fields {
		switch f.name {
		case "op", "source", "after", "before":
			have++
		}
	}
	return have == 4
}

func (e *Event) fromEnvelope(m map[string]any) error {
	op, _ := m["op"].(string)
	if len(op) != 1 {
		return fmt.Errorf("envelope op %q is not one character", op)
	}
	e.Kind, e.Op = KindChange, Op(op[0])
	var ok bool
	if m["before"] != nil {
		if e.Before, ok = m["before"].(map[string]any); !ok {
			return fmt.Errorf("envelope before is %T, not a record", m["before"])
		}
	}
	if m["after"] != nil {
		if e.After, ok = m["after"].(map[string]any); !ok {
			return fmt.Errorf("envelope after is %T, not a record", m["after"])
		}
	}
	e.TsMs, _ = m["ts_ms"].(int64)
	e.TsUs, _ = m["ts_us"].(int64)
	e.TsNs, _ = m["ts_ns"].(int64)
	if src, ok := m["source"].(map[string]any); ok {
		e.Source = sourceFrom(src)
	}
	if tx, ok := m["transaction"].(map[string]any); ok {
		e.Transaction = &Transaction{}
		e.Transaction.ID, _ = tx["id"].(string)
		e.Transaction.TotalOrder, _ = tx["total_order"].(int64)
		e.Transaction.DataCollectionOrder, _ = tx["data_collection_order"].(int64)
	}
	return nil
}

func sourceFrom(m map[string]any) Source {
	s := Source{Fields: m}
	str := func(k string) string { v, _ := m[k].(string); return v }
	long := func(k string) int64 { v, _ := m[k].(int64); return v }
	s.Version, s.Connector, s.Name = str("version"), str("connector"), str("name")
	s.TsMs, s.Snapshot, s.DB = long("ts_ms"), str("snapshot"), str("db")
	s.Schema, s.Table, s.Sequence = str("schema"), str("table"), str("sequence")
	s.TsUs, s.TsNs = long("ts_us"), long("ts_ns")
	s.TxID, s.LSN, s.Xmin = long("txId"), long("lsn"), long("xmin")
	s.ServerID, s.GTID, s.File, s.Pos = long("server_id"), str("gtid"), str("file"), long("pos")
	s.Row, _ = m["row"].(int32)
	s.Thread, s.Query = long("thread"), str("query")
	return s
}
