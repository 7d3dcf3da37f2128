package schema

import (
	"fmt"
	"math"
	"strconv"
)

// Postgres date and time types, in Debezium's time.precision.mode=adaptive
// (time(p)/timestamp(p) with p <= 3 in milliseconds, otherwise
// microseconds), from DateStyle=ISO text. Dates are proleptic Gregorian with
// astronomical year numbering, as in Postgres: 1 BC is year 0, so
// "0044-03-15 BC" is year -43.
//
// Special values, which Debezium maps inconsistently, are mapped so that a
// consumer can tell them apart from every real value:
//   - date 'infinity' / '-infinity': math.MaxInt32 / math.MinInt32 days
//   - timestamp 'infinity' / '-infinity': math.MaxInt64 / math.MinInt64
//   - timestamptz 'infinity' / '-infinity': the strings "infinity" and
//     "-infinity", as Debezium emits them
//
// A timestamp after 294247-01-10T04:00:54.775806 (Postgres goes to 294276
// AD) does not fit a long of microseconds and is an error.

const (
	pgMicrosPerSecond = 1_000_000
	pgMicrosPerDay    = 86_400 * pgMicrosPerSecond
	// pgMaxTimestampDays bounds the days for which days*pgMicrosPerDay fits
	// an int64.
	pgMaxTimestampDays = math.MaxInt64 / pgMicrosPerDay
)

// pgTimePrecision returns the fractional-second precision of a time,
// timetz, timestamp or timestamptz column: the typmod, or Precision when
// there is no typmod (an explicit 0 cannot be told apart from "unset" there),
// or the Postgres default of 6.
func pgTimePrecision(c *Column) int {
	if c.TypeMod >= 0 && c.TypeMod <= 6 {
		return int(c.TypeMod)
	}
	if c.TypeMod < 0 && c.Precision > 0 && c.Precision <= 6 {
		return c.Precision
	}
	return 6
}

func pgDateType() pgType {
	return pgType{avro: pgNamed("int", "io.debezium.time.Date"), append: pgAppendDate}
}

func pgAppendDate(dst, text []byte) ([]byte, error) {
	switch string(text) {
	case "infinity":
		return AppendInt(dst, math.MaxInt32), nil
	case "-infinity":
		return AppendInt(dst, math.MinInt32), nil
	}
	s, bc := pgCutBC(text)
	days, rest, ok := pgParseDate(s, bc)
	if !ok || len(rest) != 0 {
		return dst, pgMalformed("date", text)
	}
	if days >= math.MaxInt32 || days <= math.MinInt32 { // the sentinels stay unambiguous
		return dst, fmt.Errorf("%w: date %q is beyond an int of days", ErrPostgresUnrepresentable, Printable(text))
	}
	return AppendInt(dst, int32(days)), nil
}

// time(p) with p <= 3 explicitly declared is io.debezium.time.Time in
// milliseconds; time and time(4..6) are MicroTime. '24:00:00' is a valid
// time and becomes a whole day.
func pgTimeType(c *Column) pgType {
	if pgTimePrecision(c) <= 3 {
		return pgType{avro: pgNamed("int", "io.debezium.time.Time"), append: pgAppendTimeMillis}
	}
	return pgType{avro: pgNamed("long", "io.debezium.time.MicroTime"), append: pgAppendTimeMicros}
}

func pgAppendTimeMillis(dst, text []byte) ([]byte, error) {
	us, rest, ok := pgParseClock(text, true)
	if !ok || len(rest) != 0 {
		return dst, pgMalformed("time", text)
	}
	if us%1000 != 0 {
		return dst, fmt.Errorf("%w: time %q has sub-millisecond digits in a millisecond column", ErrPostgresUnrepresentable, Printable(text))
	}
	return AppendInt(dst, int32(us/1000)), nil
}

func pgAppendTimeMicros(dst, text []byte) ([]byte, error) {
	us, rest, ok := pgParseClock(text, true)
	if !ok || len(rest) != 0 {
		return dst, pgMalformed("time", text)
	}
	return AppendLong(dst, us), nil
}

// timetz is io.debezium.time.ZonedTime: the local time with its own UTC
// offset, formatted as Java's ISO_OFFSET_TIME does ("10:15:30.5+02:00",
// fraction digits only as needed, "+05:30:15" when the offset has seconds,
// "Z" only for +00:00), which OffsetTime.parse reads back. Debezium shifts
// the time to UTC and drops the offset; that loses the offset (10:00+02 and
// 09:00+01 would be the same value), so Sluice keeps it (a documented
// deviation). '24:00:00' stays "24:00:00" with its offset: the one value
// that a day-wrapping time cannot hold.
func pgTimetzType() pgType {
	return pgType{avro: pgNamed("string", "io.debezium.time.ZonedTime"), append: pgAppendTimetz}
}

func pgAppendTimetz(dst, text []byte) ([]byte, error) {
	us, rest, ok := pgParseClock(text, true)
	if !ok {
		return dst, pgMalformed("timetz", text)
	}
	off, ok := pgParseOffset(rest)
	if !ok {
		return dst, pgMalformed("timetz", text)
	}
	var buf [32]byte
	b := pgAppendClock(buf[:0], us, 0)
	b = pgAppendOffset(b, off)
	dst = AppendLong(dst, int64(len(b)))
	return append(dst, b...), nil
}

// pgAppendOffset appends a UTC offset in seconds as Java's ZoneOffset
// prints it: "Z", "+HH:MM" or, with seconds, "+HH:MM:SS".
func pgAppendOffset(b []byte, off int64) []byte {
	if off == 0 {
		return append(b, 'Z')
	}
	if off < 0 {
		b = append(b, '-')
		off = -off
	} else {
		b = append(b, '+')
	}
	b = pgAppend2(b, int(off/3600))
	b = append(b, ':')
	b = pgAppend2(b, int(off/60%60))
	if off%60 != 0 {
		b = append(b, ':')
		b = pgAppend2(b, int(off%60))
	}
	return b
}

// timestamp(p) with p <= 3 is io.debezium.time.Timestamp (milliseconds),
// otherwise MicroTimestamp; both count from 1970-01-01T00:00 of the wall
// clock, which is what local-timestamp-* means.
func pgTimestampType(c *Column) pgType {
	if pgTimePrecision(c) <= 3 {
		return pgType{avro: pgNamed("long", "io.debezium.time.Timestamp"), append: pgAppendTimestampMillis}
	}
	return pgType{avro: pgNamed("long", "io.debezium.time.MicroTimestamp"), append: pgAppendTimestampMicros}
}

func pgAppendTimestampMillis(dst, text []byte) ([]byte, error) {
	us, special, err := pgParseTimestamp(text)
	if err != nil {
		return dst, err
	}
	if !special {
		if us%1000 != 0 {
			return dst, fmt.Errorf("%w: timestamp %q has sub-millisecond digits in a millisecond column", ErrPostgresUnrepresentable, Printable(text))
		}
		us /= 1000
	}
	return AppendLong(dst, us), nil
}

func pgAppendTimestampMicros(dst, text []byte) ([]byte, error) {
	us, _, err := pgParseTimestamp(text)
	if err != nil {
		return dst, err
	}
	return AppendLong(dst, us), nil
}

// pgParseTimestamp parses timestamp output into microseconds since the
// epoch; special reports ±infinity, returned as math.MaxInt64/MinInt64.
func pgParseTimestamp(text []byte) (us int64, special bool, err error) {
	switch string(text) {
	case "infinity":
		return math.MaxInt64, true, nil
	case "-infinity":
		return math.MinInt64, true, nil
	}
	s, bc := pgCutBC(text)
	days, rest, ok := pgParseDate(s, bc)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return 0, false, pgMalformed("timestamp", text)
	}
	clock, rest, ok := pgParseClock(rest[1:], false)
	if !ok || len(rest) != 0 {
		return 0, false, pgMalformed("timestamp", text)
	}
	if days > pgMaxTimestampDays || days < -pgMaxTimestampDays {
		return 0, false, fmt.Errorf("%w: timestamp %q is beyond a long of microseconds", ErrPostgresUnrepresentable, Printable(text))
	}
	us = days * pgMicrosPerDay
	if us >= math.MaxInt64-clock { // MaxInt64 itself means infinity
		return 0, false, fmt.Errorf("%w: timestamp %q is beyond a long of microseconds", ErrPostgresUnrepresentable, Printable(text))
	}
	return us + clock, false, nil
}

// timestamptz is io.debezium.time.ZonedTimestamp: ISO-8601 in UTC with
// "Z", the fraction padded to the column's precision as Debezium pads it
// ("2024-01-02T03:04:05.120000Z" for timestamptz(6)) but never cut short, so
// nothing is lost if a value carries more digits than the column declares.
// Years beyond 9999 get a "+" and years before 1 AD a "-" (ISO_LOCAL_DATE).
func pgTimestamptzType(c *Column) pgType {
	width := pgTimePrecision(c)
	return pgType{avro: pgNamed("string", "io.debezium.time.ZonedTimestamp"),
		append: func(dst, text []byte) ([]byte, error) { return pgAppendTimestamptz(dst, text, width) }}
}

func pgAppendTimestamptz(dst, text []byte, width int) ([]byte, error) {
	if out, ok := pgAppendTimestamptzUTC(dst, text, width); ok {
		return out, nil
	}
	return pgAppendTimestamptzAny(dst, text, width)
}

// pgAppendTimestamptzUTC is pgAppendTimestamptzAny for the text a server
// whose TimeZone is UTC sends, "YYYY-MM-DD HH:MM:SS[.f{1,6}]+00": the ISO
// text is that text rearranged, so it is checked and copied, not parsed
// into a number and printed again (the two timestamptz columns of a
// typical row took 12% of a snapshot's CPU that way). It returns false,
// having appended nothing, for any other text; the fuzz target
// FuzzPostgresTimestamptzUTC holds it to pgAppendTimestamptzAny's output.
func pgAppendTimestamptzUTC(dst, text []byte, width int) ([]byte, bool) {
	n := len(text)
	if n < 22 || n > 29 || text[n-3] != '+' || text[n-2] != '0' || text[n-1] != '0' ||
		text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':' || text[16] != ':' {
		return dst, false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if text[i] < '0' || text[i] > '9' {
			return dst, false
		}
	}
	y := int64(text[0]-'0')*1000 + int64(text[1]-'0')*100 + int64(text[2]-'0')*10 + int64(text[3]-'0')
	m := int(text[5]-'0')*10 + int(text[6]-'0')
	d := int(text[8]-'0')*10 + int(text[9]-'0')
	if y == 0 || m < 1 || m > 12 || d < 1 || d > pgDaysIn(y, m) ||
		int(text[11]-'0')*10+int(text[12]-'0') > 23 || text[14] > '5' || text[17] > '5' {
		return dst, false
	}
	// The fraction: none (n == 22), or "." and 1 to 6 digits, its
	// trailing zeros not significant.
	frac := text[19 : n-3]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) == 1 {
			return dst, false
		}
		frac = frac[1:]
		for _, c := range frac {
			if c < '0' || c > '9' {
				return dst, false
			}
		}
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	}
	digits := max(len(frac), width)
	size := 20 // date, 'T', clock, 'Z'
	if digits > 0 {
		size += 1 + digits
	}
	dst = AppendLong(dst, int64(size))
	dst = append(dst, text[:10]...)
	dst = append(dst, 'T')
	dst = append(dst, text[11:19]...)
	if digits > 0 {
		dst = append(dst, '.')
		dst = append(dst, frac...)
		for i := len(frac); i < digits; i++ {
			dst = append(dst, '0')
		}
	}
	return append(dst, 'Z'), true
}

// pgAppendTimestamptzAny encodes any timestamptz text Postgres sends.
func pgAppendTimestamptzAny(dst, text []byte, width int) ([]byte, error) {
	switch string(text) {
	case "infinity", "-infinity":
		dst = AppendLong(dst, int64(len(text)))
		return append(dst, text...), nil
	}
	s, bc := pgCutBC(text)
	days, rest, ok := pgParseDate(s, bc)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return dst, pgMalformed("timestamptz", text)
	}
	clock, rest, ok := pgParseClock(rest[1:], false)
	if !ok {
		return dst, pgMalformed("timestamptz", text)
	}
	off, ok := pgParseOffset(rest)
	if !ok {
		return dst, pgMalformed("timestamptz", text)
	}
	// Shift to UTC as (days, time of day): no overflow for any date.
	clock -= off * pgMicrosPerSecond
	for clock < 0 {
		clock += pgMicrosPerDay
		days--
	}
	for clock >= pgMicrosPerDay {
		clock -= pgMicrosPerDay
		days++
	}
	var buf [48]byte
	b := pgAppendISODate(buf[:0], days)
	b = append(b, 'T')
	b = pgAppendClock(b, clock, width)
	b = append(b, 'Z')
	dst = AppendLong(dst, int64(len(b)))
	return append(dst, b...), nil
}

// pgCutBC removes the " BC" suffix Postgres puts after a BC date.
func pgCutBC(s []byte) ([]byte, bool) {
	if n := len(s); n > 3 && s[n-3] == ' ' && s[n-2] == 'B' && s[n-1] == 'C' {
		return s[:n-3], true
	}
	return s, false
}

// pgParseDate parses "YYYY-MM-DD" (4 to 7 year digits) at the start of s
// into days since 1970-01-01; bc turns year Y into astronomical year 1-Y.
func pgParseDate(s []byte, bc bool) (days int64, rest []byte, ok bool) {
	n := 0
	var y int64
	for n < len(s) && n < 8 && s[n] >= '0' && s[n] <= '9' {
		y = y*10 + int64(s[n]-'0')
		n++
	}
	if n < 4 || n > 7 || len(s) < n+6 || s[n] != '-' || s[n+3] != '-' {
		return 0, nil, false
	}
	m, ok1 := pgTwoDigits(s[n+1:])
	d, ok2 := pgTwoDigits(s[n+4:])
	if !ok1 || !ok2 || y == 0 {
		return 0, nil, false
	}
	if bc {
		y = 1 - y
	}
	if m < 1 || m > 12 || d < 1 || d > pgDaysIn(y, m) {
		return 0, nil, false
	}
	return pgDaysFromCivil(y, m, d), s[n+6:], true
}

// pgParseClock parses "HH:MM:SS[.ffffff]" at the start of s into
// microseconds since midnight. allow24 admits 24:00:00, which time and
// timetz (unlike timestamps) can hold.
func pgParseClock(s []byte, allow24 bool) (us int64, rest []byte, ok bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, nil, false
	}
	h, ok1 := pgTwoDigits(s)
	m, ok2 := pgTwoDigits(s[3:])
	sec, ok3 := pgTwoDigits(s[6:])
	if !ok1 || !ok2 || !ok3 || h > 24 || m > 59 || sec > 59 {
		return 0, nil, false
	}
	s = s[8:]
	var frac int64
	if len(s) > 0 && s[0] == '.' {
		n := 1
		for n < len(s) && n <= 6 && s[n] >= '0' && s[n] <= '9' {
			frac = frac*10 + int64(s[n]-'0')
			n++
		}
		if n == 1 {
			return 0, nil, false
		}
		for i := n; i <= 6; i++ {
			frac *= 10
		}
		s = s[n:]
	}
	if h == 24 && (!allow24 || m != 0 || sec != 0 || frac != 0) {
		return 0, nil, false
	}
	return int64(h*3600+m*60+sec)*pgMicrosPerSecond + frac, s, true
}

// pgParseOffset parses a UTC offset "+HH", "+HH:MM" or "+HH:MM:SS" that
// makes up all of s, into seconds east of UTC.
func pgParseOffset(s []byte) (int64, bool) {
	if (len(s) != 3 && len(s) != 6 && len(s) != 9) || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	var secs int64
	for i, mult := 1, int64(3600); i < len(s); i, mult = i+3, mult/60 {
		if i > 1 && s[i-1] != ':' {
			return 0, false
		}
		v, ok := pgTwoDigits(s[i:])
		if !ok || (i > 1 && v > 59) {
			return 0, false
		}
		secs += int64(v) * mult
	}
	if s[0] == '-' {
		secs = -secs
	}
	return secs, true
}

func pgTwoDigits(s []byte) (int, bool) {
	if len(s) < 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// pgAppendClock appends "HH:MM:SS" and, when the value has a fraction or
// width > 0, "." and max(width, significant) fraction digits.
func pgAppendClock(b []byte, us int64, width int) []byte {
	secs, frac := us/pgMicrosPerSecond, us%pgMicrosPerSecond
	b = pgAppend2(b, int(secs/3600))
	b = append(b, ':')
	b = pgAppend2(b, int(secs/60%60))
	b = append(b, ':')
	b = pgAppend2(b, int(secs%60))
	digits := 6
	for f := frac; digits > 0 && f%10 == 0; f /= 10 {
		digits--
	}
	digits = max(digits, width)
	if digits == 0 {
		return b
	}
	b = append(b, '.')
	for i, div := 0, int64(100_000); i < digits; i, div = i+1, div/10 {
		b = append(b, byte('0'+frac/div%10))
	}
	return b
}

func pgAppend2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// pgAppendISODate appends days since the epoch as Java's ISO_LOCAL_DATE
// prints it: at least 4 year digits, "+" above 9999, "-" below 0.
func pgAppendISODate(b []byte, days int64) []byte {
	y, m, d := pgCivilFromDays(days)
	switch {
	case y > 9999:
		b = append(b, '+')
	case y < 0:
		b = append(b, '-')
		y = -y
	}
	for p := int64(1000); p > 1 && y < p; p /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, y, 10)
	b = append(b, '-')
	b = pgAppend2(b, m)
	b = append(b, '-')
	return pgAppend2(b, d)
}

func pgIsLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func pgDaysIn(y int64, m int) int {
	switch m {
	case 2:
		if pgIsLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// pgDaysFromCivil and pgCivilFromDays convert between proleptic Gregorian
// dates and days since 1970-01-01 for any year (Howard Hinnant's
// days_from_civil / civil_from_days).
func pgDaysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := pgFloorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func pgCivilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := pgFloorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

func pgFloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
