package schema

import (
	"fmt"
	"strconv"
)

// Postgres bit strings.
//
// bit(1) is an Avro boolean, as in Debezium.
//
// bit(n), n > 1, is io.debezium.data.Bits with connect.parameters
// {length: "n"}: the bytes of Java's BitSet.toByteArray for a BitSet in
// which bit i is the i-th character counted from the RIGHT of the bit
// string (PostgresValueConverter.convertBits). That is little-endian: bit i
// lands in byte i/8 at bit position i%8, and the array stops at the last
// byte holding a set bit. Examples:
//
//	B'101'        -> [0x05]
//	B'1000000001' -> [0x01, 0x02]
//	B'10000000'   -> [0x80]
//	B'0000'       -> []  (no set bit: empty)
//
// Leading zeros are not encoded; for bit(n) they are implied by the fixed
// length n, so the mapping is lossless.
//
// varbit is NOT Bits, unlike Debezium: its values have varying lengths, and
// B'01' and B'1' would both become [0x01]. It is a string of '0' and '1',
// exactly the Postgres text, which keeps the length. The same holds for a
// bit column whose length is unknown (no typmod).

func pgBitLength(c *Column) int {
	if c.TypeMod > 0 {
		return int(c.TypeMod)
	}
	if c.Length > 0 {
		return c.Length
	}
	return -1
}

func pgBitType(c *Column) pgType {
	n := pgBitLength(c)
	switch {
	case n < 0:
		return pgVarbitType()
	case n == 1:
		return pgType{avro: "boolean", append: pgAppendBit1}
	}
	avro := pgNamed("bytes", "io.debezium.data.Bits")
	avro["connect.parameters"] = map[string]any{"length": strconv.Itoa(n)}
	return pgType{avro: avro, unavailable: pgAppendUnavailableBytes,
		append: func(dst, text []byte) ([]byte, error) { return pgAppendBits(dst, text, n) }}
}

func pgVarbitType() pgType {
	return pgType{avro: "string", unavailable: pgAppendUnavailableString, append: pgAppendBitString}
}

func pgAppendBit1(dst, text []byte) ([]byte, error) {
	if len(text) == 1 && (text[0] == '0' || text[0] == '1') {
		return AppendBool(dst, text[0] == '1'), nil
	}
	return dst, pgMalformed("bit(1)", text)
}

func pgAppendBitString(dst, text []byte) ([]byte, error) {
	for _, ch := range text {
		if ch != '0' && ch != '1' {
			return dst, pgMalformed("bit string", text)
		}
	}
	dst = AppendLong(dst, int64(len(text)))
	return append(dst, text...), nil
}

func pgAppendBits(dst, text []byte, n int) ([]byte, error) {
	if len(text) != n {
		return dst, fmt.Errorf("%w: bit string of length %d in a bit(%d) column", ErrPostgresMalformed, len(text), n)
	}
	highest := -1 // highest set bit, counted from the right
	for i, ch := range text {
		switch ch {
		case '1':
			if highest < 0 {
				highest = len(text) - 1 - i
			}
		case '0':
		default:
			return dst, pgMalformed("bit string", text)
		}
	}
	nbytes := (highest + 8) / 8
	dst = AppendLong(dst, int64(nbytes))
	start := len(dst)
	for range nbytes {
		dst = append(dst, 0)
	}
	out := dst[start:]
	for i := 0; i <= highest; i++ {
		if text[len(text)-1-i] == '1' {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return dst, nil
}
