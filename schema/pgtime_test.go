package schema

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func pgDay(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func pgMicros(y, m, d, hh, mm, ss, us int) int64 {
	return time.Date(y, time.Month(m), d, hh, mm, ss, us*1000, time.UTC).UnixMicro()
}

func pgClock(hh, mm, ss, us int) time.Duration {
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second + time.Duration(us)*time.Microsecond
}

func TestPostgresDateTime(t *testing.T) {
	date := pgCol("date", -1)
	tm, tm3, tm0 := pgCol("time", -1), pgCol("time", 3), pgCol("time", 0)
	tz := pgCol("timetz", -1)
	ts, ts3 := pgCol("timestamp", -1), pgCol("timestamp", 3)
	tstz, tstz0, tstz3 := pgCol("timestamptz", -1), pgCol("timestamptz", 0), pgCol("timestamptz", 3)
	pgRunCases(t, []pgCase{
		// Go's time package uses astronomical years too: year -43 is 44 BC.
		{col: date, in: "2024-01-02", want: pgDay(2024, 1, 2)},
		{col: date, in: "1970-01-01", want: pgDay(1970, 1, 1)},
		{col: date, in: "1969-12-31", want: pgDay(1969, 12, 31)},
		{col: date, in: "2000-02-29", want: pgDay(2000, 2, 29)},
		{col: date, in: "0044-03-15 BC", want: pgDay(-43, 3, 15)},
		{col: date, in: "0001-12-31 BC", want: pgDay(0, 12, 31)},
		{col: date, in: "0005-02-29 BC", want: pgDay(-4, 2, 29)},
		{col: date, in: "4713-11-24 BC", want: pgDay(-4712, 11, 24)},
		{col: date, in: "5874897-12-31", want: pgDay(5874897, 12, 31)},
		{col: date, in: "12345-06-07", want: pgDay(12345, 6, 7)},
		{col: date, in: "infinity", want: pgDay(1970, 1, 1+math.MaxInt32)},
		{col: date, in: "-infinity", want: pgDay(1970, 1, 1+math.MinInt32)},
		{col: date, in: "2023-02-29", err: errBad},
		{col: date, in: "2024-13-01", err: errBad},
		{col: date, in: "2024-00-10", err: errBad},
		{col: date, in: "24-01-01", err: errBad},
		{col: date, in: "0000-01-01", err: errBad},
		{col: date, in: "2024-01-02 BC BC", err: errBad},
		{col: date, in: "2024-01-02x", err: errBad},
		{col: date, in: "2024/01/02", err: errBad},
		{col: date, in: "Infinity", err: errBad},

		{col: tm, in: "00:00:00", want: pgClock(0, 0, 0, 0)},
		{col: tm, in: "10:15:30.123456", want: pgClock(10, 15, 30, 123456)},
		{col: tm, in: "10:15:30.5", want: pgClock(10, 15, 30, 500000)},
		{col: tm, in: "23:59:59.999999", want: pgClock(23, 59, 59, 999999)},
		{col: tm, in: "24:00:00", want: pgClock(24, 0, 0, 0)},
		{col: tm, in: "24:00:01", err: errBad},
		{col: tm, in: "25:00:00", err: errBad},
		{col: tm, in: "10:60:00", err: errBad},
		{col: tm, in: "10:15", err: errBad},
		{col: tm, in: "10:15:30.", err: errBad},
		{col: tm, in: "10:15:30.1234567", err: errBad},
		{col: tm, in: "10:15:30+00", err: errBad},
		{col: tm3, in: "10:15:30.123", want: pgClock(10, 15, 30, 123000)},
		{col: tm3, in: "24:00:00", want: pgClock(24, 0, 0, 0)},
		{col: tm3, in: "10:15:30.1234", err: errUnrep},
		{col: tm0, in: "10:15:30", want: pgClock(10, 15, 30, 0)},

		{col: tz, in: "10:15:30.123456+00", want: "10:15:30.123456Z"},
		{col: tz, in: "10:15:30.123456+02", want: "10:15:30.123456+02:00"},
		{col: tz, in: "10:15:30+00", want: "10:15:30Z"},
		{col: tz, in: "10:15:30.5-03", want: "10:15:30.5-03:00"},
		{col: tz, in: "10:15:30+05:30", want: "10:15:30+05:30"},
		{col: tz, in: "01:00:00+05", want: "01:00:00+05:00"},
		{col: tz, in: "22:00:00-03:00:00", want: "22:00:00-03:00"},
		{col: tz, in: "12:00:00+05:30:15", want: "12:00:00+05:30:15"},
		{col: tz, in: "12:00:00-00:00:15", want: "12:00:00-00:00:15"},
		{col: tz, in: "12:00:00-15:59:59", want: "12:00:00-15:59:59"},
		{col: tz, in: "12:00:00+15:59", want: "12:00:00+15:59"},
		{col: tz, in: "12:00:00.000001-09:30", want: "12:00:00.000001-09:30"},
		{col: tz, in: "00:00:00+00", want: "00:00:00Z"},
		{col: tz, in: "00:00:00-01", want: "00:00:00-01:00"},
		{col: tz, in: "23:59:59.999999+14", want: "23:59:59.999999+14:00"},
		{col: tz, in: "24:00:00+00", want: "24:00:00Z"},
		{col: tz, in: "24:00:00+01", want: "24:00:00+01:00"},
		{col: tz, in: "23:00:00-01", want: "23:00:00-01:00"},
		{col: tz, in: "24:00:01+00", err: errBad},
		{col: tz, in: "10:15:30", err: errBad},
		{col: tz, in: "10:15:30+5", err: errBad},
		{col: tz, in: "10:15:30Z", err: errBad},
		{col: tz, in: "10:15:30+05:3", err: errBad},
		{col: tz, in: "10:15:30+05:60", err: errBad},

		{col: ts, in: "2024-01-02 03:04:05.123456", want: pgMicros(2024, 1, 2, 3, 4, 5, 123456)},
		{col: ts, in: "1970-01-01 00:00:00", want: int64(0)},
		{col: ts, in: "1969-12-31 23:59:59.999999", want: int64(-1)},
		{col: ts, in: "0044-03-15 10:00:00 BC", want: pgMicros(-43, 3, 15, 10, 0, 0, 0)},
		{col: ts, in: "4713-11-24 00:00:00 BC", want: pgMicros(-4712, 11, 24, 0, 0, 0, 0)},
		{col: ts, in: "infinity", want: int64(math.MaxInt64)},
		{col: ts, in: "-infinity", want: int64(math.MinInt64)},
		{col: ts, in: "294247-01-10 04:00:54.775806", want: int64(math.MaxInt64 - 1)},
		{col: ts, in: "294247-01-10 04:00:54.775807", err: errUnrep},
		{col: ts, in: "294276-12-31 23:59:59.999999", err: errUnrep},
		{col: ts, in: "2024-01-02T03:04:05", err: errBad},
		{col: ts, in: "2024-01-02 24:00:00", err: errBad},
		{col: ts, in: "2024-01-02", err: errBad},
		{col: ts, in: "2024-01-02 03:04:05+00", err: errBad},
		{col: ts3, in: "2024-01-02 03:04:05.123", want: pgMicros(2024, 1, 2, 3, 4, 5, 123000) / 1000},
		{col: ts3, in: "1969-12-31 23:59:59.999", want: int64(-1)},
		{col: ts3, in: "2024-01-02 03:04:05.1234", err: errUnrep},
		{col: ts3, in: "infinity", want: int64(math.MaxInt64)},
		{col: ts3, in: "-infinity", want: int64(math.MinInt64)},

		{col: tstz, in: "0099-06-01 12:00:00+00", want: "0099-06-01T12:00:00.000000Z"},
		{col: tstz, in: "2024-01-02 03:04:05.123456+00", want: "2024-01-02T03:04:05.123456Z"},
		{col: tstz, in: "2024-01-02 03:04:05+00", want: "2024-01-02T03:04:05.000000Z"},
		{col: tstz, in: "2024-01-02 03:04:05.12+05:30", want: "2024-01-01T21:34:05.120000Z"},
		{col: tstz, in: "2024-12-31 23:30:00-03:00:00", want: "2025-01-01T02:30:00.000000Z"},
		{col: tstz, in: "2024-03-01 00:00:00+01", want: "2024-02-29T23:00:00.000000Z"},
		{col: tstz, in: "0044-03-15 10:00:00+00 BC", want: "-0043-03-15T10:00:00.000000Z"},
		{col: tstz, in: "0001-01-01 00:30:00+01", want: "0000-12-31T23:30:00.000000Z"},
		{col: tstz, in: "10000-01-01 00:00:00+00", want: "+10000-01-01T00:00:00.000000Z"},
		{col: tstz, in: "294276-12-31 23:59:59.999999+00", want: "+294276-12-31T23:59:59.999999Z"},
		{col: tstz, in: "infinity", want: "infinity"},
		{col: tstz, in: "-infinity", want: "-infinity"},
		{col: tstz0, in: "2024-01-02 03:04:05+00", want: "2024-01-02T03:04:05Z"},
		{col: tstz0, in: "2024-01-02 03:04:05.5+00", want: "2024-01-02T03:04:05.5Z"},
		{col: tstz3, in: "2024-01-02 03:04:05.1+00", want: "2024-01-02T03:04:05.100Z"},
		{col: tstz, in: "2024-01-02 03:04:05", err: errBad},
		{col: tstz, in: "2024-01-02 03:04:05 UTC", err: errBad},
		{col: tstz, in: "2024-01-02T03:04:05Z", err: errBad},
		{col: tstz, in: "2024-01-02 03:04:05+0530", err: errBad},
	})
}

func TestPostgresInterval(t *testing.T) {
	iv := pgCol("interval", -1)
	pgRunCases(t, []pgCase{
		{col: iv, in: "P1Y2M3DT4H5M6.789S", want: "P1Y2M3DT4H5M6.789S"},
		{col: iv, in: "PT0S", want: "P0Y0M0DT0H0M0S"},
		{col: iv, in: "P-1Y-2M3DT-4H-5M-6.789S", want: "P-1Y-2M3DT-4H-5M-6.789S"},
		{col: iv, in: "PT-0.5S", want: "P0Y0M0DT0H0M-0.5S"},
		{col: iv, in: "P1D", want: "P0Y0M1DT0H0M0S"},
		{col: iv, in: "P-3D", want: "P0Y0M-3DT0H0M0S"},
		{col: iv, in: "PT100H", want: "P0Y0M0DT100H0M0S"},
		{col: iv, in: "PT1.000001S", want: "P0Y0M0DT0H0M1.000001S"},
		{col: iv, in: "PT6.000000S", want: "P0Y0M0DT0H0M6S"},
		{col: iv, in: "P1Y-1M", want: "P0Y11M0DT0H0M0S"},
		{col: iv, in: "P14M", want: "P1Y2M0DT0H0M0S"},
		{col: iv, in: "PT90M", want: "P0Y0M0DT1H30M0S"},
		{col: iv, in: "P178956970Y7M", want: "P178956970Y7M0DT0H0M0S"},
		{col: iv, in: "PT2562047788H54.775807S", want: "P0Y0M0DT2562047788H0M54.775807S"},
		{col: iv, in: "infinity", want: "infinity"},
		{col: iv, in: "-infinity", want: "-infinity"},
		{col: iv, in: "1 year 2 mons", err: errBad},
		{col: iv, in: "P", err: errBad},
		{col: iv, in: "PT", err: errBad},
		{col: iv, in: "P1DT", err: errBad},
		{col: iv, in: "P1H", err: errBad},
		{col: iv, in: "PT1Y", err: errBad},
		{col: iv, in: "P1.5D", err: errBad},
		{col: iv, in: "P1M1Y", err: errBad},
		{col: iv, in: "P1Y1Y", err: errBad},
		{col: iv, in: "P1", err: errBad},
		{col: iv, in: "P-Y", err: errBad},
		{col: iv, in: "PT1S2S", err: errBad},
		{col: iv, in: "P178956971Y", err: errBad},
		{col: iv, in: "PT9999999999999999H", err: errBad},
	})
}

// The civil-date arithmetic behind every date and timestamp, against Go's
// time package, over Postgres' whole date range (4713 BC to 5874897 AD).
func TestPostgresCivilDays(t *testing.T) {
	for days := int64(-2_500_000); days <= 2_146_000_000; days += 99_991 {
		y, m, d := pgCivilFromDays(days)
		want := time.Unix(days*86400, 0).UTC()
		if y != int64(want.Year()) || m != int(want.Month()) || d != want.Day() {
			t.Fatalf("day %d: %d-%d-%d, time says %v", days, y, m, d, want)
		}
		if back := pgDaysFromCivil(y, m, d); back != days {
			t.Fatalf("%d-%d-%d: day %d, want %d", y, m, d, back, days)
		}
	}
}

// timetz keeps its offset: over a grid of times and offsets (as Postgres
// prints them), every value becomes a distinct string that parses back,
// with the layouts of Java's ISO_OFFSET_TIME, to the same wall clock and
// the same offset.
var pgTimetzOut = regexp.MustCompile(`^(\d\d:\d\d:\d\d(?:\.\d{1,9})?)(Z|[+-](\d\d):(\d\d)(:\d\d)?)$`)

func TestPostgresTimetzLossless(t *testing.T) {
	ct, err := PostgresColumnType(&Column{Name: "v", Type: "timetz", TypeMod: -1})
	if err != nil {
		t.Fatal(err)
	}
	codec := pgCodecFor(t, WithLogicalTypes(Postgres, ct).Avro)
	clocks := []string{"00:00:00", "00:00:00.000001", "09:30:00.5", "12:34:56.123456", "23:59:59.999999"}
	offsets := []int{0, 1, 59, 60, 3600, 5400, 19800, 19815, 15*3600 + 59*60 + 59}
	seen := map[string]string{}
	for _, clock := range clocks {
		for _, abs := range offsets {
			for _, sign := range []int{1, -1} {
				off := sign * abs
				if off == 0 && sign < 0 {
					continue
				}
				// Postgres' timetz output: +HH, +HH:MM or +HH:MM:SS.
				a := max(off, -off)
				in := fmt.Sprintf("%s%c%02d", clock, "+-"[(1-sign)/2], a/3600)
				if a%3600 != 0 {
					in += fmt.Sprintf(":%02d", a/60%60)
				}
				if a%60 != 0 {
					in += fmt.Sprintf(":%02d", a%60)
				}
				buf, err := pgEncode(ct, in)
				if err != nil {
					t.Fatalf("%q: %v", in, err)
				}
				out, _ := pgDecode(t, codec, buf).(string)
				if prev, dup := seen[out]; dup {
					t.Fatalf("%q and %q both became %q", prev, in, out)
				}
				seen[out] = in
				// The grammar of Java's ISO_OFFSET_TIME output. (Go's
				// time.Parse reads "-00:00:01" as +00:00.)
				m := pgTimetzOut.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("%q became %q, which is not an ISO-8601 offset time", in, out)
				}
				gotOff := 0
				if m[2] != "Z" {
					h, _ := strconv.Atoi(m[3])
					mi, _ := strconv.Atoi(m[4])
					sec, _ := strconv.Atoi(strings.TrimPrefix(m[5], ":"))
					gotOff = h*3600 + mi*60 + sec
					if m[2][0] == '-' {
						gotOff = -gotOff
					}
				}
				if m[1] != clock || gotOff != off {
					t.Errorf("%q became %q: clock or offset lost", in, out)
				}
				if (off == 0) != strings.HasSuffix(out, "Z") {
					t.Errorf("%q became %q: Z is for +00:00 only", in, out)
				}
			}
		}
	}
}
