package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicecdc/sluice/internal/avrowalk"
)

// Decoder decodes Confluent-framed Avro records through the registry with
// goavro: independent of the encoder in this package, it is what `sluice
// tail` and the tests use to read what Sluice wrote. The bytes are
// untrusted (anything on a topic): each datum is walked against its
// schema (avrowalk.Check) before goavro, which trusts block counts,
// decodes it.
type Decoder struct {
	reg *Registry

	mu     sync.Mutex
	codecs map[int]*decodeCodec
}

type decodeCodec struct {
	walk *avrowalk.Node
	bin  *goavro.Codec
	json *goavro.Codec
}

// NewDecoder returns a decoder that looks schemas up in reg.
func NewDecoder(reg *Registry) *Decoder {
	return &Decoder{reg: reg, codecs: map[int]*decodeCodec{}}
}

func (d *Decoder) codec(ctx context.Context, id int) (*decodeCodec, error) {
	d.mu.Lock()
	c := d.codecs[id]
	d.mu.Unlock()
	if c != nil {
		return c, nil
	}
	s, err := d.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	c = &decodeCodec{}
	if c.walk, err = avrowalk.Parse(s); err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if c.bin, err = goavro.NewCodec(s); err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if c.json, err = goavro.NewCodecForStandardJSONFull(s); err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	d.mu.Lock()
	d.codecs[id] = c
	d.mu.Unlock()
	return c, nil
}

// decode splits the wire header, finds the schema and decodes the record,
// which must use every byte.
func (d *Decoder) decode(ctx context.Context, b []byte) (id int, jsonCodec *goavro.Codec, v any, err error) {
	id, payload, err := ParseWireHeader(b)
	if err != nil {
		return 0, nil, nil, err
	}
	c, err := d.codec(ctx, id)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := avrowalk.Check(c.walk, payload); err != nil {
		return 0, nil, nil, fmt.Errorf("schema id %d: Avro data does not match the schema: %w", id, err)
	}
	v, rest, err := c.bin.NativeFromBinary(payload)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if len(rest) != 0 {
		return 0, nil, nil, fmt.Errorf("schema id %d: %d bytes left after the record", id, len(rest))
	}
	return id, c.json, v, nil
}

// Native decodes b to goavro's native form (unions as single-key maps).
func (d *Decoder) Native(ctx context.Context, b []byte) (any, error) {
	_, _, v, err := d.decode(ctx, b)
	return v, err
}

// Render decodes b and renders it as JSON for people: fields in schema
// order, unions unwrapped, decimals as decimal strings, bytes as base64.
func (d *Decoder) Render(ctx context.Context, b []byte) ([]byte, error) {
	id, _, v, err := d.decode(ctx, b)
	if err != nil {
		return nil, err
	}
	s, err := d.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	var parsed any
	if err := json.Unmarshal([]byte(s), &parsed); err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	var out bytes.Buffer
	r := &renderer{named: map[string]any{}}
	r.collect(parsed)
	if err := r.write(&out, parsed, v); err != nil {
		return nil, fmt.Errorf("schema id %d: rendering: %w", id, err)
	}
	return out.Bytes(), nil
}

// JSON decodes b and renders it as standard JSON (unions unwrapped).
func (d *Decoder) JSON(ctx context.Context, b []byte) ([]byte, error) {
	id, j, v, err := d.decode(ctx, b)
	if err != nil {
		return nil, err
	}
	out, err := j.TextualFromNative(nil, v)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: rendering JSON: %w", id, err)
	}
	return out, nil
}
