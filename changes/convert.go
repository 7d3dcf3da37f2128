package changes

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
)

// Debezium semantic types (connect.name) with a Go conversion.
const (
	cnDate           = "io.debezium.time.Date"
	cnTime           = "io.debezium.time.Time"
	cnMicroTime      = "io.debezium.time.MicroTime"
	cnNanoTime       = "io.debezium.time.NanoTime"
	cnTimestamp      = "io.debezium.time.Timestamp"
	cnMicroTimestamp = "io.debezium.time.MicroTimestamp"
	cnNanoTimestamp  = "io.debezium.time.NanoTimestamp"
	cnZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	cnMicroDuration  = "io.debezium.time.MicroDuration"
	cnJSON           = "io.debezium.data.Json"
	cnVarDecimal     = "io.debezium.data.VariableScaleDecimal"
	cnPoint          = "io.debezium.data.geometry.Point"
	cnGeometry       = "io.debezium.data.geometry.Geometry"
)

// convert turns goavro's native value v of schema n (decoded without
// logical types) into the Go value the package doc lists.
func convert(n *node, v any) (any, error) {
	switch n.typ {
	case "null":
		return nil, nil
	case "union":
		if v == nil {
			return nil, nil
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("union value %T", v)
		}
		for k, inner := range m {
			for _, b := range n.union {
				if b.branchName() == k {
					return convert(b, inner)
				}
			}
			return nil, fmt.Errorf("union branch %q not in the schema", k)
		}
	case "boolean", "float", "double":
		return v, nil
	case "int":
		i, ok := v.(int32)
		if !ok {
			return nil, fmt.Errorf("int value %T", v)
		}
		return convertInt(n, i), nil
	case "long":
		i, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("long value %T", v)
		}
		return convertLong(n, i), nil
	case "string", "enum":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("string value %T", v)
		}
		return convertString(n, s)
	case "bytes", "fixed":
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("bytes value %T", v)
		}
		if n.decimal {
			return decimalRat(b, n.scale), nil
		}
		if string(b) == placeholder {
			return Unavailable, nil
		}
		return b, nil
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("array value %T", v)
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			c, err := convert(n.items, e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		// An unchanged TOASTed array is a one-element array holding the
		// placeholder (docs/TYPES.md).
		if len(out) == 1 && out[0] == Unavailable {
			return Unavailable, nil
		}
		return out, nil
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map value %T", v)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			c, err := convert(n.items, e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record value %T", v)
		}
		out := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			c, err := convert(f.n, m[f.name])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			out[f.name] = c
		}
		switch n.connect {
		case cnVarDecimal:
			scale, ok1 := out["scale"].(int32)
			raw, ok2 := out["value"].([]byte)
			if !ok1 || !ok2 || scale < 0 || scale > 1000 {
				return nil, fmt.Errorf("VariableScaleDecimal needs scale (int, 0..1000) and value (bytes)")
			}
			return decimalRat(raw, int(scale)), nil
		case cnPoint:
			x, ok1 := out["x"].(float64)
			y, ok2 := out["y"].(float64)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("Point needs x and y (double)")
			}
			wkb, _ := out["wkb"].([]byte)
			return Point{X: x, Y: y, WKB: wkb, SRID: optInt32(out["srid"])}, nil
		case cnGeometry:
			wkb, _ := out["wkb"].([]byte)
			return Geometry{WKB: wkb, SRID: optInt32(out["srid"])}, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported Avro type %q", n.typ)
}

func optInt32(v any) *int32 {
	if i, ok := v.(int32); ok {
		return &i
	}
	return nil
}

func convertInt(n *node, i int32) any {
	switch n.connect {
	case cnDate:
		switch i {
		case math.MaxInt32:
			return PositiveInfinity
		case math.MinInt32:
			return NegativeInfinity
		}
		return time.Unix(int64(i)*86400, 0).UTC()
	case cnTime:
		return time.Duration(i) * time.Millisecond
	}
	switch n.connectType {
	case "int8":
		if i >= math.MinInt8 && i <= math.MaxInt8 {
			return int8(i)
		}
	case "int16":
		if i >= math.MinInt16 && i <= math.MaxInt16 {
			return int16(i)
		}
	}
	return i
}

func convertLong(n *node, i int64) any {
	switch n.connect {
	case cnTimestamp, cnMicroTimestamp, cnNanoTimestamp:
		switch i {
		case math.MaxInt64:
			return PositiveInfinity
		case math.MinInt64:
			return NegativeInfinity
		}
		switch n.connect {
		case cnTimestamp:
			return time.UnixMilli(i).UTC()
		case cnMicroTimestamp:
			return time.UnixMicro(i).UTC()
		default:
			return time.Unix(0, i).UTC()
		}
	case cnMicroTime, cnMicroDuration:
		return time.Duration(i) * time.Microsecond
	case cnNanoTime:
		return time.Duration(i)
	}
	return i
}

func convertString(n *node, s string) (any, error) {
	if s == placeholder {
		return Unavailable, nil
	}
	switch n.connect {
	case cnZonedTimestamp:
		switch s {
		case "infinity":
			return PositiveInfinity, nil
		case "-infinity":
			return NegativeInfinity, nil
		}
		t, err := parseZonedTimestamp(s)
		if err != nil {
			return nil, fmt.Errorf("ZonedTimestamp %q: %w", s, err)
		}
		return t, nil
	case cnJSON:
		if !json.Valid([]byte(s)) {
			return nil, errors.New("io.debezium.data.Json value is not JSON")
		}
		return json.RawMessage(s), nil
	}
	return s, nil
}

// decimalRat reads a big-endian two's-complement unscaled value.
func decimalRat(raw []byte, scale int) *big.Rat {
	n := new(big.Int).SetBytes(raw)
	if len(raw) > 0 && raw[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(raw)*8)))
	}
	d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	return new(big.Rat).SetFrac(n, d)
}

var errZoned = errors.New("want ISO-8601 [+-]YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM[:SS])")

// parseZonedTimestamp reads Java's ISO_OFFSET_DATE_TIME as Debezium
// writes it, including years beyond 9999 (+10000) and before year 1
// (-0043, astronomical numbering), which time.Parse does not accept.
func parseZonedTimestamp(s string) (time.Time, error) {
	i := 0
	sign := 1
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		if s[i] == '-' {
			sign = -1
		}
		i++
	}
	ys := i
	year := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		year = year*10 + int(s[i]-'0')
		i++
		if i-ys > 9 {
			return time.Time{}, errZoned
		}
	}
	if i-ys < 4 {
		return time.Time{}, errZoned
	}
	year *= sign
	num := func(sep byte, lo, hi int) (int, bool) {
		if i+3 > len(s) || s[i] != sep || s[i+1] < '0' || s[i+1] > '9' || s[i+2] < '0' || s[i+2] > '9' {
			return 0, false
		}
		v := int(s[i+1]-'0')*10 + int(s[i+2]-'0')
		i += 3
		return v, v >= lo && v <= hi
	}
	month, ok1 := num('-', 1, 12)
	day, ok2 := num('-', 1, 31)
	hour, ok3 := num('T', 0, 23)
	minute, ok4 := num(':', 0, 59)
	sec, ok5 := num(':', 0, 59)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return time.Time{}, errZoned
	}
	nsec := 0
	if i < len(s) && s[i] == '.' {
		i++
		digits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if digits == 9 {
				return time.Time{}, errZoned
			}
			nsec = nsec*10 + int(s[i]-'0')
			digits++
			i++
		}
		if digits == 0 {
			return time.Time{}, errZoned
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	if i >= len(s) {
		return time.Time{}, errZoned
	}
	offset := 0
	if s[i] == 'Z' {
		i++
	} else {
		osign := 1
		switch s[i] {
		case '+':
		case '-':
			osign = -1
		default:
			return time.Time{}, errZoned
		}
		i++
		i-- // num expects a separator at s[i]; reuse the sign's position
		oh, ok1 := num(s[i], 0, 18)
		om, ok2 := num(':', 0, 59)
		if !ok1 || !ok2 {
			return time.Time{}, errZoned
		}
		os := 0
		if i < len(s) {
			var ok bool
			if os, ok = num(':', 0, 59); !ok {
				return time.Time{}, errZoned
			}
		}
		offset = osign * (oh*3600 + om*60 + os)
	}
	if i != len(s) {
		return time.Time{}, errZoned
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("no such date: %w", errZoned)
	}
	return t.Add(-time.Duration(offset) * time.Second), nil
}
