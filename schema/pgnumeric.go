package schema

import (
	"fmt"
	"math/big"
	"strconv"
)

// Postgres numeric and money, in Debezium's decimal.handling.mode=precise:
//
//   - numeric(p,s) is a Kafka Connect Decimal: Avro bytes with logicalType
//     decimal, the big-endian two's-complement unscaled integer in the fewest
//     bytes (Java's BigInteger.toByteArray, which Connect uses).
//   - numeric without a type modifier has no fixed scale, so each value
//     carries its own: Debezium's VariableScaleDecimal record {scale, value},
//     with trailing fractional zeros stripped as Debezium strips them.
//   - NaN and ±Infinity have no decimal representation and stop the pipeline
//     (Debezium would emit null, or 0 for a NOT NULL column).

const pgDecimalName = "org.apache.kafka.connect.data.Decimal"

// pgDecimalAvro is the schema Confluent's AvroConverter writes for a Connect
// Decimal. params carries Connect's parameters; Debezium sets
// connect.decimal.precision for numeric(p,s) but not for money.
func pgDecimalAvro(precision, scale int, params map[string]any) map[string]any {
	m := pgNamed("bytes", pgDecimalName)
	m["logicalType"] = "decimal"
	m["precision"] = precision
	m["scale"] = scale
	m["connect.parameters"] = params
	return m
}

// pgNumericTypmod returns numeric's declared precision and scale, from the
// typmod ((p<<16 | s&0x7ff) + 4, the scale an 11-bit signed field since
// Postgres 15) or, without one, from Precision and Scale.
func pgNumericTypmod(c *Column) (precision, scale int, ok bool) {
	if c.TypeMod >= 4 {
		tm := c.TypeMod - 4
		precision = int(tm>>16) & 0xffff
		scale = (int(tm&0x7ff) ^ 1024) - 1024
		return precision, scale, precision > 0
	}
	if c.Precision > 0 && c.Precision <= 1000 {
		return c.Precision, c.Scale, true
	}
	return 0, 0, false
}

func pgNumericType(c *Column) pgType {
	p, s, ok := pgNumericTypmod(c)
	if !ok {
		return pgType{avro: pgVariableScaleDecimalAvro(), append: pgAppendVariableScaleDecimal}
	}
	// Avro requires 0 <= scale <= precision; Postgres 15 allows a negative
	// scale (numeric(3,-2) holds 12300) and a scale above the precision
	// (numeric(2,4) holds 0.0012). Both fit an Avro decimal of scale
	// max(s,0) and precision wide enough for every value of the column.
	if s < 0 {
		p, s = p-s, 0
	}
	if s > p {
		p = s
	}
	params := map[string]any{"scale": strconv.Itoa(s), "connect.decimal.precision": strconv.Itoa(p)}
	return pgType{avro: pgDecimalAvro(p, s, params), append: func(dst, text []byte) ([]byte, error) {
		return pgAppendFixedDecimal(dst, text, p, s)
	}}
}

// pgVariableScaleDecimalAvro is io.debezium.data.VariableScaleDecimal. It is
// a named record: use AvroTypeFor when a schema may contain it twice.
func pgVariableScaleDecimalAvro() map[string]any {
	m := pgNamed("record", "io.debezium.data.VariableScaleDecimal")
	m["name"] = "VariableScaleDecimal"
	m["namespace"] = "io.debezium.data"
	m["doc"] = "Variable scaled decimal"
	m["fields"] = []any{
		map[string]any{"name": "scale", "type": "int"},
		map[string]any{"name": "value", "type": "bytes"},
	}
	return m
}

// pgSplitNumeric splits numeric output text into sign, integer digits
// (leading zeros removed) and fractional digits.
func pgSplitNumeric(text []byte) (neg bool, ip, fp []byte, err error) {
	switch string(text) {
	case "NaN", "Infinity", "-Infinity":
		return false, nil, nil, fmt.Errorf("%w: numeric %s has no decimal representation", ErrPostgresUnrepresentable, text)
	}
	s := text
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	ip, s = s[:i], s[i:]
	if len(ip) == 0 {
		return false, nil, nil, pgMalformed("numeric", text)
	}
	if len(s) > 0 {
		if s[0] != '.' {
			return false, nil, nil, pgMalformed("numeric", text)
		}
		fp = s[1:]
		if len(fp) == 0 {
			return false, nil, nil, pgMalformed("numeric", text)
		}
		for _, ch := range fp {
			if ch < '0' || ch > '9' {
				return false, nil, nil, pgMalformed("numeric", text)
			}
		}
	}
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	return neg, ip, fp, nil
}

// pgAppendFixedDecimal appends text as an Avro decimal of the given
// precision and scale. Postgres pads the fraction to the declared scale;
// digits beyond it would be lost, and integer digits beyond precision-scale
// would make the schema lie, so both are errors rather than rounding.
func pgAppendFixedDecimal(dst, text []byte, precision, scale int) ([]byte, error) {
	neg, ip, fp, err := pgSplitNumeric(text)
	if err != nil {
		return dst, err
	}
	if len(fp) > scale {
		for _, ch := range fp[scale:] {
			if ch != '0' {
				return dst, fmt.Errorf("%w: %q has more than %d fractional digits", ErrPostgresUnrepresentable, Printable(text), scale)
			}
		}
		fp = fp[:scale]
	}
	if len(ip) > precision-scale {
		return dst, fmt.Errorf("%w: %q exceeds numeric(%d,%d)", ErrPostgresUnrepresentable, Printable(text), precision, scale)
	}
	return pgAppendUnscaled(dst, neg, ip, fp, scale-len(fp)), nil
}

// pgAppendVariableScaleDecimal appends the VariableScaleDecimal record
// {scale: int, value: bytes}, normalised as Debezium normalises it:
// trailing fractional zeros stripped, never a negative scale.
func pgAppendVariableScaleDecimal(dst, text []byte) ([]byte, error) {
	neg, ip, fp, err := pgSplitNumeric(text)
	if err != nil {
		return dst, err
	}
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
	}
	dst = AppendInt(dst, int32(len(fp))) // at most 16383 fractional digits
	return pgAppendUnscaled(dst, neg, ip, fp, 0), nil
}

// pgAppendUnscaled appends, as Avro bytes, the two's-complement integer
// whose decimal digits are ip, fp and zeros trailing zeros.
func pgAppendUnscaled(dst []byte, neg bool, ip, fp []byte, zeros int) []byte {
	if len(ip)+len(fp)+zeros <= 18 { // 10^18 < 2^63: the common case, no allocation
		var u int64
		for _, ch := range ip {
			u = u*10 + int64(ch-'0')
		}
		for _, ch := range fp {
			u = u*10 + int64(ch-'0')
		}
		for range zeros {
			u *= 10
		}
		if neg {
			u = -u
		}
		return pgAppendInt64Decimal(dst, u)
	}
	digits := make([]byte, 0, len(ip)+len(fp)+zeros+1)
	if neg {
		digits = append(digits, '-')
	}
	digits = append(digits, ip...)
	digits = append(digits, fp...)
	for range zeros {
		digits = append(digits, '0')
	}
	n, _ := new(big.Int).SetString(string(digits), 10) // digits are checked
	return pgAppendBigDecimal(dst, n)
}

// pgAppendInt64Decimal appends v as Avro bytes holding its minimal
// big-endian two's-complement form (0 is one zero byte, as in Java).
func pgAppendInt64Decimal(dst []byte, v int64) []byte {
	n := 1
	for n < 8 && (v < -(1<<(8*n-1)) || v >= 1<<(8*n-1)) {
		n++
	}
	dst = AppendLong(dst, int64(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// pgAppendBigDecimal is pgAppendInt64Decimal for any size.
func pgAppendBigDecimal(dst []byte, v *big.Int) []byte {
	var b []byte
	if v.Sign() >= 0 {
		b = v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
	} else {
		// -v-1 has the bit pattern of v inverted.
		m := new(big.Int).Neg(v)
		m.Sub(m, big.NewInt(1))
		b = m.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		for i := range b {
			b[i] = ^b[i]
		}
	}
	return AppendBytes(dst, b)
}

// money is a Connect Decimal of scale 2 (Debezium's money.fraction.digits
// default) without connect.decimal.precision, as Debezium declares it. The
// Avro precision, which Avro requires, is 19: money is a 64-bit count of
// cents, at most 19 digits. (Confluent's converter would write its default
// of 64, which some readers, e.g. Spark, cannot load.)
func pgMoneyType() pgType {
	return pgType{avro: pgDecimalAvro(19, 2, map[string]any{"scale": "2"}), append: pgAppendMoney}
}

// pgAppendMoney parses money output under lc_monetary=C: "$1,234.56",
// "-$1,234.56". The currency sign and the group separators are optional so
// that "-92233720368547758.08" (what some locales print) parses too; a
// parenthesised negative is accepted for locales that use one.
func pgAppendMoney(dst, text []byte) ([]byte, error) {
	s := text
	neg := false
	if len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')' {
		neg, s = true, s[1:len(s)-1]
	}
	if len(s) > 0 && s[0] == '-' && !neg {
		neg, s = true, s[1:]
	}
	if len(s) > 0 && s[0] == '$' {
		s = s[1:]
	}
	if len(s) > 0 && s[0] == '-' && !neg {
		neg, s = true, s[1:]
	}
	var u uint64 // cents
	digits, group := 0, -1
	for len(s) > 0 && s[0] != '.' {
		ch := s[0]
		s = s[1:]
		switch {
		case ch == ',':
			if digits == 0 || (group >= 0 && group != 3) {
				return dst, pgMalformed("money", text)
			}
			group = 0
			continue
		case ch < '0' || ch > '9':
			return dst, pgMalformed("money", text)
		}
		if digits == 17 { // money has at most 17 integer digits; more could overflow u
			return dst, pgMalformed("money", text)
		}
		u = u*10 + uint64(ch-'0')
		digits++
		if group >= 0 {
			group++
		}
	}
	if digits == 0 || (group >= 0 && group != 3) {
		return dst, pgMalformed("money", text)
	}
	frac := 0
	if len(s) > 0 {
		s = s[1:] // '.'
		if len(s) == 0 {
			return dst, pgMalformed("money", text)
		}
		for i, ch := range s {
			if ch < '0' || ch > '9' {
				return dst, pgMalformed("money", text)
			}
			if i >= 2 {
				if ch != '0' {
					return dst, fmt.Errorf("%w: %q has more than 2 fractional digits", ErrPostgresUnrepresentable, Printable(text))
				}
				continue
			}
			u = u*10 + uint64(ch-'0')
			frac++
		}
	}
	for ; frac < 2; frac++ {
		u *= 10
	}
	const limit = 1 << 63 // money is an int64 count of cents
	if u > limit || (u == limit && !neg) {
		return dst, pgMalformed("money (out of range)", text)
	}
	v := int64(u)
	if neg {
		v = int64(-u)
	}
	return pgAppendInt64Decimal(dst, v), nil
}
