package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// render writes goavro's native value v of Avro schema s as JSON for
// people (`sluice tail`): fields in schema order, unions unwrapped,
// decimals as decimal strings, bytes as base64 (as Kafka Connect's JSON
// converter writes them), logical date/time values as their physical
// numbers, NaN and infinities as strings.
type renderer struct {
	named map[string]any
	ns    string
}

func (r *renderer) define(s map[string]any) {
	name, _ := s["name"].(string)
	ns, _ := s["namespace"].(string)
	if ns == "" {
		ns = r.ns
	}
	if name != "" {
		full := name
		if ns != "" && !containsDot(name) {
			full = ns + "." + name
		}
		r.named[full] = s
		r.named[name] = s
	}
}

// collect registers every named type in s, so references by name resolve
// even where the defining occurrence holds no value (a null before).
func (r *renderer) collect(s any) {
	switch st := s.(type) {
	case []any:
		for _, b := range st {
			r.collect(b)
		}
	case map[string]any:
		switch st["type"] {
		case "record", "enum", "fixed":
			r.define(st)
		}
		if fields, ok := st["fields"].([]any); ok {
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					r.collect(fm["type"])
				}
			}
		}
		if items, ok := st["items"]; ok {
			r.collect(items)
		}
		if t, ok := st["type"].(map[string]any); ok {
			r.collect(t)
		}
	}
}

func containsDot(s string) bool { return bytes.IndexByte([]byte(s), '.') >= 0 }

func (r *renderer) write(b *bytes.Buffer, s any, v any) error {
	switch st := s.(type) {
	case string:
		if def, ok := r.named[st]; ok {
			return r.write(b, def, v)
		}
		if st == "null" {
			b.WriteString("null")
			return nil
		}
		return writeScalar(b, st, nil, v)
	case []any: // union
		if v == nil {
			b.WriteString("null")
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return fmt.Errorf("union value %T", v)
		}
		for branch, inner := range m {
			for _, cand := range st {
				if unionName(cand, r) == branch {
					return r.write(b, cand, inner)
				}
			}
			return fmt.Errorf("union branch %q not in schema", branch)
		}
	case map[string]any:
		typ, _ := st["type"].(string)
		switch typ {
		case "record":
			r.define(st)
			if n, _ := st["connect.name"].(string); n == "io.debezium.data.VariableScaleDecimal" {
				if m, ok := v.(map[string]any); ok {
					scale, _ := m["scale"].(int32)
					raw, _ := m["value"].([]byte)
					b.WriteString(strconv.Quote(decimalString(raw, int(scale))))
					return nil
				}
			}
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("record value %T", v)
			}
			b.WriteByte('{')
			fields, _ := st["fields"].([]any)
			for i, f := range fields {
				fm, _ := f.(map[string]any)
				name, _ := fm["name"].(string)
				if i > 0 {
					b.WriteByte(',')
				}
				kb, _ := json.Marshal(name)
				b.Write(kb)
				b.WriteByte(':')
				if err := r.write(b, fm["type"], m[name]); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			b.WriteByte('}')
			return nil
		case "array":
			items := st["items"]
			arr, _ := v.([]any)
			b.WriteByte('[')
			for i, e := range arr {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := r.write(b, items, e); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		case "enum", "fixed":
			r.define(st)
			return writeScalar(b, typ, st, v)
		default:
			return writeScalar(b, typ, st, v)
		}
	}
	return fmt.Errorf("unexpected schema %T", s)
}

// unionName is the key goavro uses for a union branch.
func unionName(s any, r *renderer) string {
	switch st := s.(type) {
	case string:
		return st
	case map[string]any:
		typ, _ := st["type"].(string)
		switch typ {
		case "record", "enum", "fixed":
			name, _ := st["name"].(string)
			ns, _ := st["namespace"].(string)
			if ns != "" && !containsDot(name) {
				return ns + "." + name
			}
			return name
		}
		if lt, _ := st["logicalType"].(string); lt != "" {
			switch lt {
			case "decimal", "date", "time-millis", "time-micros", "timestamp-millis", "timestamp-micros":
				return typ + "." + lt
			}
		}
		return typ
	}
	return ""
}

func writeScalar(b *bytes.Buffer, typ string, s map[string]any, v any) error {
	lt, _ := s["logicalType"].(string)
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case *big.Rat:
		scale := 0
		if f, ok := s["scale"].(float64); ok {
			scale = int(f)
		}
		b.WriteString(strconv.Quote(x.FloatString(scale)))
	case time.Time:
		switch lt {
		case "date":
			b.WriteString(strconv.FormatInt(x.Unix()/86400, 10))
		case "timestamp-millis":
			b.WriteString(strconv.FormatInt(x.UnixMilli(), 10))
		default:
			b.WriteString(strconv.FormatInt(x.Unix()*1e6+int64(x.Nanosecond()/1e3), 10))
		}
	case time.Duration:
		if lt == "time-millis" {
			b.WriteString(strconv.FormatInt(x.Milliseconds(), 10))
		} else {
			b.WriteString(strconv.FormatInt(x.Microseconds(), 10))
		}
	case []byte:
		b.WriteString(strconv.Quote(base64.StdEncoding.EncodeToString(x)))
	case float32:
		writeFloat(b, float64(x), 32)
	case float64:
		writeFloat(b, x, 64)
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(j)
	}
	return nil
}

func writeFloat(b *bytes.Buffer, f float64, bits int) {
	switch {
	case math.IsNaN(f):
		b.WriteString(`"NaN"`)
	case math.IsInf(f, 1):
		b.WriteString(`"Infinity"`)
	case math.IsInf(f, -1):
		b.WriteString(`"-Infinity"`)
	default:
		b.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
	}
}

// decimalString renders a big-endian two's-complement unscaled value.
func decimalString(raw []byte, scale int) string {
	n := new(big.Int).SetBytes(raw)
	if len(raw) > 0 && raw[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(raw)*8)))
	}
	return new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).FloatString(scale)
}
