package schema

import (
	"fmt"
	"math"
)

// MySQL temporal types, in Debezium's time.precision.mode
// adaptive_time_microseconds (the MySQL connector's default):
//
//	date          io.debezium.time.Date: days since 1970-01-01
//	datetime(0-3) io.debezium.time.Timestamp: ms since 1970-01-01T00:00 (wall clock)
//	datetime(4-6) io.debezium.time.MicroTimestamp: µs, the same
//	timestamp(p)  io.debezium.time.ZonedTimestamp: ISO-8601 in UTC, the
//	              fraction padded to p digits
//	time(p)       io.debezium.time.MicroTime: µs, negative and beyond 24h
//	              as MySQL allows (-838:59:59 to 838:59:59)
//
// MySQL's zero values (allowed without NO_ZERO_DATE) have no calendar
// meaning; each gets a value no real date or time can have, so nothing is
// lost and a consumer can tell them apart:
//
//	date '0000-00-00'                       -2147483648 (math.MinInt32) days
//	datetime '0000-00-00 00:00:00'          -9223372036854775808 (math.MinInt64)
//	timestamp '0000-00-00 00:00:00'         "1970-01-01T00:00:00Z" (with the
//	                                        fraction width): epoch 0 is not a
//	                                        valid TIMESTAMP, which starts at
//	                                        1970-01-01 00:00:01 UTC, and is
//	                                        what Debezium writes
//
// A date with a zero month or day but a non-zero year ('2024-00-15',
// allowed without NO_ZERO_IN_DATE) and an invalid date ('2024-02-30', with
// ALLOW_INVALID_DATES) have no representation and stop the pipeline.

// mysqlFsp returns the fractional-second precision of a temporal column.
func mysqlFsp(c *Column) int {
	if c.Precision >= 0 && c.Precision <= 6 {
		return c.Precision
	}
	return 0
}

func mysqlAppendDate(dst []byte, raw any) ([]byte, error) {
	s, err := mysqlText(raw)
	if err != nil {
		return dst, err
	}
	days, zero, err := mysqlParseDate(s)
	if err != nil {
		return dst, err
	}
	if zero {
		return AppendInt(dst, math.MinInt32), nil
	}
	return AppendLong(dst, days), nil
}

func mysqlAppendDatetime(dst []byte, raw any, millis bool) ([]byte, error) {
	s, err := mysqlText(raw)
	if err != nil {
		return dst, err
	}
	us, zero, err := mysqlParseDatetime(s)
	if err != nil {
		return dst, err
	}
	if zero {
		return AppendLong(dst, math.MinInt64), nil
	}
	if millis {
		if us%1000 != 0 {
			return dst, fmt.Errorf("%w: datetime %q has sub-millisecond digits in a datetime(0..3) column", ErrMySQLMalformed, Printable(s))
		}
		us = pgFloorDiv(us, 1000)
	}
	return AppendLong(dst, us), nil
}

func mysqlAppendTimestamp(dst []byte, raw any, width int) ([]byte, error) {
	s, err := mysqlText(raw)
	if err != nil {
		return dst, err
	}
	us, zero, err := mysqlParseDatetime(s)
	if err != nil {
		return dst, err
	}
	if zero {
		us = 0
	}
	days := pgFloorDiv(us, pgMicrosPerDay)
	clock := us - days*pgMicrosPerDay
	var buf [48]byte
	b := pgAppendISODate(buf[:0], days)
	b = append(b, 'T')
	b = pgAppendClock(b, clock, width)
	b = append(b, 'Z')
	dst = AppendLong(dst, int64(len(b)))
	return append(dst, b...), nil
}

func mysqlAppendTime(dst []byte, raw any) ([]byte, error) {
	s, err := mysqlText(raw)
	if err != nil {
		return dst, err
	}
	us, err := mysqlParseTime(s)
	if err != nil {
		return dst, err
	}
	return AppendLong(dst, us), nil
}

// mysqlParseDate parses "YYYY-MM-DD" into days since 1970-01-01; zero
// reports "0000-00-00".
func mysqlParseDate(s string) (days int64, zero bool, err error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false, mysqlMalformed("date", s)
	}
	y, ok1 := mysqlDigits(s[0:4])
	m, ok2 := mysqlDigits(s[5:7])
	d, ok3 := mysqlDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return 0, false, mysqlMalformed("date", s)
	}
	if y == 0 && m == 0 && d == 0 {
		return 0, true, nil
	}
	if m < 1 || m > 12 || d < 1 || d > pgDaysIn(int64(y), m) {
		return 0, false, fmt.Errorf("%w: date %q has a zero or invalid month or day", ErrMySQLUnrepresentable, s)
	}
	return pgDaysFromCivil(int64(y), m, d), false, nil
}

// mysqlParseDatetime parses "YYYY-MM-DD HH:MM:SS[.f{1,6}]" into
// microseconds since 1970-01-01T00:00; zero reports the zero datetime
// (with any fraction of zeros).
func mysqlParseDatetime(s string) (us int64, zero bool, err error) {
	if len(s) < 19 || s[10] != ' ' {
		return 0, false, mysqlMalformed("datetime", s)
	}
	frac, ok := mysqlParseFraction(s[19:])
	if !ok || s[13] != ':' || s[16] != ':' {
		return 0, false, mysqlMalformed("datetime", s)
	}
	h, ok1 := mysqlDigits(s[11:13])
	mi, ok2 := mysqlDigits(s[14:16])
	sec, ok3 := mysqlDigits(s[17:19])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 59 {
		return 0, false, mysqlMalformed("datetime", s)
	}
	days, zero, err := mysqlParseDate(s[:10])
	if err != nil {
		return 0, false, err
	}
	if zero {
		if h != 0 || mi != 0 || sec != 0 || frac != 0 {
			return 0, false, fmt.Errorf("%w: datetime %q has a zero date and a non-zero time", ErrMySQLUnrepresentable, s)
		}
		return 0, true, nil
	}
	return days*pgMicrosPerDay + int64(h*3600+mi*60+sec)*pgMicrosPerSecond + frac, false, nil
}

// mysqlParseTime parses "[-]H+:MM:SS[.f{1,6}]" (at least two hour digits,
// as MySQL prints them) into microseconds.
func mysqlParseTime(s string) (int64, error) {
	t := s
	neg := false
	if len(t) > 0 && t[0] == '-' {
		neg, t = true, t[1:]
	}
	i := 0
	var h int64
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		if i == 7 { // MySQL allows 838 hours; seven digits is plenty
			return 0, mysqlMalformed("time", s)
		}
		h = h*10 + int64(t[i]-'0')
		i++
	}
	if i < 2 || len(t) < i+6 || t[i] != ':' || t[i+3] != ':' {
		return 0, mysqlMalformed("time", s)
	}
	mi, ok1 := mysqlDigits(t[i+1 : i+3])
	sec, ok2 := mysqlDigits(t[i+4 : i+6])
	frac, ok3 := mysqlParseFraction(t[i+6:])
	if !ok1 || !ok2 || !ok3 || mi > 59 || sec > 59 {
		return 0, mysqlMalformed("time", s)
	}
	us := (h*3600+int64(mi*60+sec))*pgMicrosPerSecond + frac
	if neg {
		us = -us
	}
	return us, nil
}

// mysqlParseFraction parses "" or ".f{1,6}" into microseconds.
func mysqlParseFraction(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	if s[0] != '.' || len(s) < 2 || len(s) > 7 {
		return 0, false
	}
	var f int64
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		f = f*10 + int64(s[i]-'0')
	}
	for i := len(s); i <= 6; i++ {
		f *= 10
	}
	return f, true
}

func mysqlDigits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, len(s) > 0
}
