package schema

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Postgres point is Debezium's io.debezium.data.geometry.Point record
// {x: double, y: double, wkb: ["null", bytes], srid: ["null", int]}, with
// wkb the 21-byte little-endian OGC WKB of the point and srid null, as
// Debezium's Point.createValue builds it. The text is "(x,y)" with
// float8 output for each coordinate (lossless with extra_float_digits > 0).
// The other geometric types (line, lseg, box, path, polygon, circle) keep
// their text.

func pgPointType() pgType {
	m := pgNamed("record", "io.debezium.data.geometry.Point")
	m["name"] = "Point"
	m["namespace"] = "io.debezium.data.geometry"
	m["doc"] = "Geometry (POINT)"
	m["fields"] = []any{
		map[string]any{"name": "x", "type": "double"},
		map[string]any{"name": "y", "type": "double"},
		map[string]any{"name": "wkb", "type": []any{"null", "bytes"}, "default": nil},
		map[string]any{"name": "srid", "type": []any{"null", "int"}, "default": nil},
	}
	return pgType{avro: m, append: pgAppendPoint}
}

func pgAppendPoint(dst, text []byte) ([]byte, error) {
	if len(text) < 5 || text[0] != '(' || text[len(text)-1] != ')' {
		return dst, pgMalformed("point", text)
	}
	xs, ys, ok := bytes.Cut(text[1:len(text)-1], []byte{','})
	if !ok {
		return dst, pgMalformed("point", text)
	}
	x, err := pgParseFloat(xs, 64)
	if err != nil {
		return dst, err
	}
	y, err := pgParseFloat(ys, 64)
	if err != nil {
		return dst, err
	}
	dst = AppendDouble(AppendDouble(dst, x), y)
	dst = AppendNullableSome(dst)
	dst = AppendLong(dst, 21)
	dst = append(dst, 1)                           // byte order: little-endian
	dst = binary.LittleEndian.AppendUint32(dst, 1) // geometry type: point
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(y))
	return AppendNullableNull(dst), nil // srid
}
