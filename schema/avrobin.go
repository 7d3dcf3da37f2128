package schema

import (
	"encoding/binary"
	"math"
)

// The Append* functions write Avro binary encoding
// (https://avro.apache.org/docs/1.11.1/specification/#binary-encoding).
// Change events are encoded with these directly from source values, with no
// intermediate maps and no reflection; goavro decodes them in tests, in
// `sluice tail` and validates every schema we build, so an encoding bug shows
// up as a decode failure.

// AppendLong appends a zig-zag varint long.
func AppendLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64((v<<1)^(v>>63)))
}

// AppendInt appends an Avro int (same encoding as long, 32-bit range).
func AppendInt(dst []byte, v int32) []byte { return AppendLong(dst, int64(v)) }

// AppendBool appends an Avro boolean.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendFloat appends an Avro float (IEEE 754 little-endian; NaN and
// infinities are valid).
func AppendFloat(dst []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

// AppendDouble appends an Avro double.
func AppendDouble(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

// AppendBytes appends length-prefixed bytes.
func AppendBytes(dst []byte, v []byte) []byte {
	dst = AppendLong(dst, int64(len(v)))
	return append(dst, v...)
}

// AppendString appends a length-prefixed UTF-8 string. The caller
// guarantees valid UTF-8 (source text types are validated by their mapping).
func AppendString(dst []byte, v string) []byte {
	dst = AppendLong(dst, int64(len(v)))
	return append(dst, v...)
}

// AppendUnionIndex appends the branch index of a union value.
func AppendUnionIndex(dst []byte, i int) []byte { return AppendLong(dst, int64(i)) }

// AppendNullableNull appends the null branch of ["null", T].
func AppendNullableNull(dst []byte) []byte { return append(dst, 0) }

// AppendNullableSome appends the branch index of T in ["null", T]; the
// value follows.
func AppendNullableSome(dst []byte) []byte { return append(dst, 2) }
