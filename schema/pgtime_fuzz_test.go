package schema

import (
	"bytes"
	"testing"
)

// FuzzPostgresTimestamptzUTC holds the UTC fast path of timestamptz to the
// general decoder: whatever it accepts, it encodes as the general one
// does, and it leaves dst as it was when it declines.
func FuzzPostgresTimestamptzUTC(f *testing.F) {
	for _, s := range []string{
		"2024-01-02 03:04:05+00", "2024-01-02 03:04:05.12+00", "2024-01-02 03:04:05.120000+00",
		"2024-02-29 23:59:59.999999+00", "2023-02-29 00:00:00+00", "0001-01-01 00:00:00+00",
		"9999-12-31 23:59:59.5+00", "2024-01-02 24:00:00+00", "2024-01-02 03:04:05.+00",
		"2024-01-02 03:04:05.1234567+00", "2024-01-02 03:04:05+01", "2024-01-02 03:04:60+00",
		"10000-01-01 00:00:00+00", "2024-01-02 03:04:05 BC+00", "0000-01-01 00:00:00+00",
	} {
		for w := range 7 {
			f.Add([]byte(s), uint8(w))
		}
	}
	f.Fuzz(func(t *testing.T, text []byte, w uint8) {
		width := int(w % 7)
		prefix := []byte{0xAA}
		fast, ok := pgAppendTimestamptzUTC(prefix, text, width)
		if !ok {
			if !bytes.Equal(fast, prefix) {
				t.Fatalf("%q declined but dst grew to %q", text, fast)
			}
			return
		}
		slow, err := pgAppendTimestamptzAny(prefix, text, width)
		if err != nil {
			t.Fatalf("%q width %d: the fast path accepted what the general decoder rejects: %v", text, width, err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("%q width %d: fast path %q, general decoder %q", text, width, fast[1:], slow[1:])
		}
	})
}

// TestTimestamptzUTCFastPathTaken: the texts a UTC server sends take the
// fast path (the fuzz target only checks what it accepts).
func TestTimestamptzUTCFastPathTaken(t *testing.T) {
	for _, s := range []string{"2024-01-02 03:04:05+00", "2024-01-02 03:04:05.123456+00", "1999-12-31 23:59:59.5+00"} {
		if _, ok := pgAppendTimestamptzUTC(nil, []byte(s), 6); !ok {
			t.Errorf("%q does not take the UTC fast path", s)
		}
	}
	for _, s := range []string{"2024-01-02 03:04:05+02", "infinity", "2024-01-02 03:04:05 BC+00", "2024-13-02 03:04:05+00"} {
		if _, ok := pgAppendTimestamptzUTC(nil, []byte(s), 6); ok {
			t.Errorf("%q takes the UTC fast path", s)
		}
	}
}
