package schema

import (
	"fmt"
	"math"
	"strconv"
)

// Postgres interval as io.debezium.time.Interval, Debezium's
// interval.handling.mode=string. Debezium's default, MicroDuration, folds
// months into days with an average month length and cannot be turned back
// into the interval; the string keeps months, days and microseconds apart,
// which is what Postgres stores.
//
// The input is IntervalStyle=iso_8601 output ("P1Y2M3DT4H5M6.789S",
// "P-1Y-2M3DT-4H-5M-6.789S", "PT0S"). It is parsed into Postgres' three
// fields and printed the way Debezium's Interval.toIsoString prints it:
// every component, seconds with trailing zeros stripped
// ("P1Y2M3DT4H5M6.789S", zero is "P0Y0M0DT0H0M0S"). Postgres 17's infinite
// intervals become "infinity" and "-infinity", as timestamptz's do.

func pgIntervalType() pgType {
	return pgType{avro: pgNamed("string", "io.debezium.time.Interval"), append: pgAppendInterval}
}

func pgAppendInterval(dst, text []byte) ([]byte, error) {
	switch string(text) {
	case "infinity", "-infinity":
		dst = AppendLong(dst, int64(len(text)))
		return append(dst, text...), nil
	}
	months, days, us, err := pgParseInterval(text)
	if err != nil {
		return dst, err
	}
	var buf [96]byte
	b := append(buf[:0], 'P')
	b = strconv.AppendInt(b, months/12, 10)
	b = append(b, 'Y')
	b = strconv.AppendInt(b, months%12, 10)
	b = append(b, 'M')
	b = strconv.AppendInt(b, days, 10)
	b = append(b, 'D', 'T')
	b = strconv.AppendInt(b, us/(3600*pgMicrosPerSecond), 10)
	b = append(b, 'H')
	b = strconv.AppendInt(b, us/(60*pgMicrosPerSecond)%60, 10)
	b = append(b, 'M')
	secs := us % (60 * pgMicrosPerSecond)
	if secs < 0 {
		b = append(b, '-')
		secs = -secs
	}
	b = strconv.AppendInt(b, secs/pgMicrosPerSecond, 10)
	if frac := secs % pgMicrosPerSecond; frac != 0 {
		b = append(b, '.')
		for div := int64(100_000); frac != 0; div /= 10 {
			b = append(b, byte('0'+frac/div))
			frac %= div
		}
	}
	b = append(b, 'S')
	dst = AppendLong(dst, int64(len(b)))
	return append(dst, b...), nil
}

// pgParseInterval parses an ISO 8601 interval as Postgres prints it into
// months, days and microseconds, each within the range Postgres stores
// (int32, int32, int64). Designators must come in order, each at most once;
// only seconds may have a fraction (of up to 6 digits).
func pgParseInterval(text []byte) (months, days, us int64, err error) {
	bad := func() (int64, int64, int64, error) { return 0, 0, 0, pgMalformed("iso_8601 interval", text) }
	if len(text) < 3 || text[0] != 'P' {
		return bad()
	}
	s := text[1:]
	const units = "YMDHMS" // in order; the first M is months, the second minutes
	next := 0              // index into units of the next allowed designator
	inTime := false
	seen := false
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime || len(s) == 1 {
				return bad()
			}
			inTime, next, s = true, 3, s[1:]
			continue
		}
		neg := false
		if s[0] == '-' || s[0] == '+' {
			neg, s = s[0] == '-', s[1:]
		}
		var v int64
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			if n == 18 {
				return bad()
			}
			v = v*10 + int64(s[n]-'0')
			n++
		}
		if n == 0 {
			return bad()
		}
		s = s[n:]
		var frac int64
		if len(s) > 0 && s[0] == '.' {
			n = 1
			for n < len(s) && n <= 6 && s[n] >= '0' && s[n] <= '9' {
				frac = frac*10 + int64(s[n]-'0')
				n++
			}
			if n == 1 {
				return bad()
			}
			for i := n; i <= 6; i++ {
				frac *= 10
			}
			s = s[n:]
			if len(s) == 0 || s[0] != 'S' {
				return bad()
			}
		}
		if len(s) == 0 {
			return bad()
		}
		u := -1
		for i := next; i < len(units); i++ {
			if units[i] == s[0] && (i < 3) != inTime {
				u = i
				break
			}
		}
		if u < 0 {
			return bad()
		}
		s, next, seen = s[1:], u+1, true
		if neg {
			v, frac = -v, -frac
		}
		var ok bool
		switch u {
		case 0:
			months, ok = pgMulAdd(months, v, 12, 0)
		case 1:
			months, ok = pgMulAdd(months, v, 1, 0)
		case 2:
			days, ok = pgMulAdd(days, v, 1, 0)
		case 3:
			us, ok = pgMulAdd(us, v, 3600*pgMicrosPerSecond, 0)
		case 4:
			us, ok = pgMulAdd(us, v, 60*pgMicrosPerSecond, 0)
		case 5:
			us, ok = pgMulAdd(us, v, pgMicrosPerSecond, frac)
		}
		if !ok {
			return 0, 0, 0, fmt.Errorf("%w: interval %q out of range", ErrPostgresMalformed, Printable(text))
		}
	}
	if !seen || months > math.MaxInt32 || months < math.MinInt32 || days > math.MaxInt32 || days < math.MinInt32 {
		if seen {
			return 0, 0, 0, fmt.Errorf("%w: interval %q out of range", ErrPostgresMalformed, Printable(text))
		}
		return bad()
	}
	return months, days, us, nil
}

// pgMulAdd returns acc + v*mult + add, reporting false on int64 overflow.
func pgMulAdd(acc, v, mult, add int64) (int64, bool) {
	if v != 0 && (v > math.MaxInt64/mult || v < math.MinInt64/mult) {
		return 0, false
	}
	p := v * mult
	r := acc + p
	if (p > 0 && r < acc) || (p < 0 && r > acc) {
		return 0, false
	}
	r2 := r + add
	if (add > 0 && r2 < r) || (add < 0 && r2 > r) {
		return 0, false
	}
	return r2, true
}
