package mysql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Bytes written out by hand from MySQL's description of the format
// (Gtid_set::encode, encode_nsids_format, Tsid::encode_tsid,
// Tag::encode_tag): little-endian u64s, 16-byte uuids, exclusive ends.
var (
	uuidABytes = []byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	uuidBBytes = []byte{0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x00, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55}
)

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestMySQLGTIDSetEncode(t *testing.T) {
	for _, c := range []struct {
		name, set string
		want      []byte
	}{
		{"empty", "", u64(0)},
		{"untagged", uuidA + ":1-5:7",
			cat(u64(1), uuidABytes, u64(2), u64(1), u64(6), u64(7), u64(8))},
		{"untagged, two uuids in uuid order", uuidB + ":3," + uuidA + ":1",
			cat(u64(2), uuidABytes, u64(1), u64(1), u64(2), uuidBBytes, u64(1), u64(3), u64(4))},
		{"tagged", uuidA + ":1-3:tag1:1-2," + uuidB + ":x:5",
			cat([]byte{0x01, 0x03, 0, 0, 0, 0, 0, 0x01}, // format 1, 3 entries, format 1
				uuidABytes, []byte{0x00}, u64(1), u64(1), u64(4), // the untagged entry: empty tag
				uuidABytes, []byte{4 << 1, 't', 'a', 'g', '1'}, u64(1), u64(1), u64(3),
				uuidBBytes, []byte{1 << 1, 'x'}, u64(1), u64(5), u64(6))},
		{"tag of 32 characters, upper case given", uuidA + ":ABCDEFGHIJKLMNOPQRSTUVWXYZ_01234:9",
			cat([]byte{0x01, 0x01, 0, 0, 0, 0, 0, 0x01}, uuidABytes, []byte{32 << 1},
				[]byte("abcdefghijklmnopqrstuvwxyz_01234"), u64(1), u64(9), u64(10))},
		{"tagged only", uuidB + ":t:1-2:4",
			cat([]byte{0x01, 0x01, 0, 0, 0, 0, 0, 0x01}, uuidBBytes, []byte{1 << 1, 't'}, u64(2), u64(1), u64(3), u64(4), u64(5))},
	} {
		t.Run(c.name, func(t *testing.T) {
			set, err := ParseMySQLGTIDSet(c.set)
			if err != nil {
				t.Fatal(err)
			}
			got := set.Encode()
			if !bytes.Equal(got, c.want) {
				t.Fatalf("Encode(%s)\n got % x\nwant % x", c.set, got, c.want)
			}
			back, err := DecodeMySQLGTIDSet(got)
			if err != nil || back.String() != set.String() {
				t.Fatalf("decoded back: %q, %v; want %q", back.String(), err, set.String())
			}
		})
	}
}

// TestMySQLGTIDSetEncodeUntaggedAsGoMySQL: without tags the bytes are
// those go-mysql's MysqlGTIDSet sends (which orders several uuids as its
// map happens to, so several are compared decoded).
func TestMySQLGTIDSetEncodeUntaggedAsGoMySQL(t *testing.T) {
	for _, s := range []string{
		uuidA + ":1",
		uuidA + ":1-100:102-200:7000",
		uuidA + ":1-5," + uuidB + ":1-9:11",
	} {
		mine, err := ParseMySQLGTIDSet(s)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := gomysql.ParseMysqlGTIDSet(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(mine.sources()) == 1 {
			if !bytes.Equal(mine.Encode(), theirs.Encode()) {
				t.Errorf("%s:\n mine     % x\n go-mysql % x", s, mine.Encode(), theirs.Encode())
			}
			continue
		}
		decoded, err := DecodeMySQLGTIDSet(theirs.Encode())
		if err != nil || decoded.String() != mine.String() || len(theirs.Encode()) != len(mine.Encode()) {
			t.Errorf("%s: go-mysql's bytes decode to %q (%v), mine are %d bytes, its %d", s, decoded.String(), err, len(mine.Encode()), len(theirs.Encode()))
		}
	}
}

func TestDecodeMySQLGTIDSetRejects(t *testing.T) {
	entry := cat(uuidABytes, u64(1), u64(1), u64(2))
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"short", []byte{1, 0, 0}},
		{"unknown format", cat([]byte{1, 0, 0, 0, 0, 0, 0, 2}, entry)},
		{"tagged without the low format byte", cat([]byte{0, 1, 0, 0, 0, 0, 0, 1}, uuidABytes, []byte{0}, u64(1), u64(1), u64(2))},
		{"count beyond the bytes", cat(u64(2), entry)},
		{"trailing bytes", cat(u64(1), entry, []byte{0})},
		{"empty interval", cat(u64(1), uuidABytes, u64(1), u64(5), u64(5))},
		{"zero start", cat(u64(1), uuidABytes, u64(1), u64(0), u64(5))},
		{"touching intervals", cat(u64(1), uuidABytes, u64(2), u64(1), u64(3), u64(3), u64(4))},
		{"intervals out of order", cat(u64(1), uuidABytes, u64(2), u64(5), u64(6), u64(1), u64(2))},
		{"huge interval count", cat(u64(1), uuidABytes, u64(1<<62), u64(1), u64(2))},
		{"no intervals", cat(u64(1), uuidABytes, u64(0))},
		{"uuid twice", cat(u64(2), entry, entry)},
		{"bad tag", cat([]byte{1, 1, 0, 0, 0, 0, 0, 1}, uuidABytes, []byte{1 << 1, '9'}, u64(1), u64(1), u64(2))},
		{"upper-case tag", cat([]byte{1, 1, 0, 0, 0, 0, 0, 1}, uuidABytes, []byte{1 << 1, 'T'}, u64(1), u64(1), u64(2))},
		{"tag length of two bytes", cat([]byte{1, 1, 0, 0, 0, 0, 0, 1}, uuidABytes, []byte{0x01, 0x02}, u64(1), u64(1), u64(2))},
		{"truncated tag", cat([]byte{1, 1, 0, 0, 0, 0, 0, 1}, uuidABytes, []byte{4 << 1, 'a'})},
	} {
		if s, err := DecodeMySQLGTIDSet(c.b); !errors.Is(err, ErrBadGTIDEncoding) {
			t.Errorf("%s: got %q, %v; want ErrBadGTIDEncoding", c.name, s.String(), err)
		}
	}
}

// TestDumpSet: what go-mysql's syncer uses of the set it starts from.
func TestDumpSet(t *testing.T) {
	set, _ := ParseMySQLGTIDSet(uuidA + ":1-5:t:1-2")
	d, err := newDumpSet(set)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Encode(), set.Encode()) || d.String() != set.String() || d.IsEmpty() {
		t.Fatalf("dumpSet %s differs from its set %s", d, set)
	}
	c := d.Clone()
	if err := c.Update(uuidA + ":t:3"); err != nil {
		t.Fatal(err)
	}
	if d.String() != uuidA+":1-5,"+uuidA+":t:1-2" || c.String() != uuidA+":1-5,"+uuidA+":t:1-3" {
		t.Errorf("Clone then Update: original %s, clone %s", d, c)
	}
	if !c.Contain(d) || d.Contain(c) || d.Equal(c) || !d.Equal(d.Clone()) {
		t.Errorf("Contain/Equal wrong for %s and %s", d, c)
	}
	huge, _ := ParseMySQLGTIDSet(uuidA + ":1-9223372036854775807")
	if _, err := newDumpSet(huge); !errors.Is(err, ErrBadGTID) {
		t.Errorf("newDumpSet(%s) = %v, want ErrBadGTID (beyond MySQL's numbers)", huge, err)
	}
}

func FuzzDecodeMySQLGTIDSet(f *testing.F) {
	for _, s := range []string{"", uuidA + ":1-5:7", uuidA + ":1-3:tag1:1-2," + uuidB + ":x:5", uuidB + ":t:1"} {
		set, _ := ParseMySQLGTIDSet(s)
		f.Add(set.Encode())
	}
	f.Add(cat([]byte{1, 1, 0, 0, 0, 0, 0, 1}, uuidABytes, []byte{0}, u64(1), u64(1), u64(2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := DecodeMySQLGTIDSet(b)
		if err != nil {
			if !errors.Is(err, ErrBadGTIDEncoding) {
				t.Fatalf("error %v is not ErrBadGTIDEncoding", err)
			}
			return
		}
		// Encoding again gives the same set, and the same bytes but for
		// the order of entries and a tagged format without tags.
		enc := set.Encode()
		again, err := DecodeMySQLGTIDSet(enc)
		if err != nil || again.String() != set.String() || len(enc) > len(b) {
			t.Fatalf("% x -> %q -> % x -> %q, %v", b, set.String(), enc, again.String(), err)
		}
		parsed, err := ParseMySQLGTIDSet(set.String())
		if err != nil || parsed.String() != set.String() {
			t.Fatalf("%q does not parse back: %q, %v", set.String(), parsed.String(), err)
		}
	})
}
