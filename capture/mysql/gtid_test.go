package mysql

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

func TestMariaGTIDSet(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "", want: ""},
		{in: "0-1-100", want: "0-1-100"},
		{in: " 1-2-7 , 0-1-100 ", want: "0-1-100,1-2-7"},
		{in: "0-1-18446744073709551615", want: "0-1-18446744073709551615"},
		{in: "4294967295-4294967295-1", want: "4294967295-4294967295-1"},
		{in: "0-1-100,0-2-5", err: true}, // a domain twice
		{in: "0-1", err: true},
		{in: "0-1-x", err: true},
		{in: "0-1-+5", err: true},
		{in: "-1-1-1", err: true},
		{in: "4294967296-1-1", err: true},
		{in: "0-1-1,", err: true},
	} {
		s, err := ParseMariaGTIDSet(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadGTID) {
				t.Errorf("ParseMariaGTIDSet(%q) error = %v, want ErrBadGTID", tc.in, err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("ParseMariaGTIDSet(%q) = %q, %v; want %q", tc.in, s.String(), err, tc.want)
		}
	}
}

func TestMariaGTIDSetAdvance(t *testing.T) {
	s, _ := ParseMariaGTIDSet("0-1-100,2-3-7")
	before := s.Clone()
	s.Add(MariaGTID{Domain: 0, ServerID: 1, Seq: 101})
	s.Add(MariaGTID{Domain: 1, ServerID: 9, Seq: 1}) // a new domain
	s.Add(MariaGTID{Domain: 2, ServerID: 4, Seq: 8}) // another server in a domain
	if got, want := s.String(), "0-1-101,1-9-1,2-4-8"; got != want {
		t.Errorf("after Add: %q, want %q", got, want)
	}
	if before.String() != "0-1-100,2-3-7" {
		t.Errorf("Clone shares state: %q", before.String())
	}
	server, _ := ParseMariaGTIDSet("0-1-105,2-4-8")
	got := s.Behind(server)
	if len(got) != 1 || !strings.Contains(got[0], "domain 1") {
		t.Errorf("Behind = %q, want domain 1 only (missing on the server)", got)
	}
	rewound, _ := ParseMariaGTIDSet("0-1-50,1-9-1,2-4-8")
	if got := s.Behind(rewound); len(got) != 1 || !strings.Contains(got[0], "domain 0") {
		t.Errorf("Behind(rewound) = %q, want domain 0", got)
	}
	if got := before.Behind(server); len(got) != 0 {
		t.Errorf("older checkpoint Behind = %q, want none", got)
	}
}

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "a1b2c3d4-0000-1111-2222-333344445555"
)

func TestMySQLGTIDSet(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "", want: ""},
		{in: uuidA + ":1-5", want: uuidA + ":1-5"},
		{in: uuidA + ":1-5:6-9:11", want: uuidA + ":1-9:11"},
		{in: uuidA + ":7:1-3:4", want: uuidA + ":1-4:7"},
		{in: strings.ToUpper(uuidB) + ":1,\n" + uuidA + ":1-2", want: uuidA + ":1-2," + uuidB + ":1"},
		{in: uuidA + ":1-3:tag1:1-2", want: uuidA + ":1-3," + uuidA + ":tag1:1-2"},
		{in: uuidA + ":1-18446744073709551615:5", want: uuidA + ":1-18446744073709551615"},
		{in: uuidA + ":0", err: true},
		{in: uuidA + ":5-3", err: true},
		{in: uuidA, err: true},
		{in: "not-a-uuid:1", err: true},
		{in: uuidA + ":1-", err: true},
		{in: uuidA + ":9tag:1", err: true},
	} {
		s, err := ParseMySQLGTIDSet(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadGTID) {
				t.Errorf("ParseMySQLGTIDSet(%q) error = %v, want ErrBadGTID", tc.in, err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("ParseMySQLGTIDSet(%q) = %q, %v; want %q", tc.in, s.String(), err, tc.want)
		}
	}
}

func TestMySQLGTIDSetAdvance(t *testing.T) {
	s, _ := ParseMySQLGTIDSet(uuidA + ":1-5")
	before := s.Clone()
	s.Add(uuidA, 6)
	s.Add(uuidA, 8)
	s.Add(strings.ToUpper(uuidB), 1)
	if got, want := s.String(), uuidA+":1-6:8,"+uuidB+":1"; got != want {
		t.Errorf("after Add: %q, want %q", got, want)
	}
	s.Add(uuidA, 7)
	if got, want := s.String(), uuidA+":1-8,"+uuidB+":1"; got != want {
		t.Errorf("filling the gap: %q, want %q", got, want)
	}
	if !s.Contains(before) || before.Contains(s) {
		t.Errorf("Contains: s ⊇ before %v, before ⊇ s %v", s.Contains(before), before.Contains(s))
	}
	purged, _ := ParseMySQLGTIDSet(uuidA + ":1-3")
	if !s.Contains(purged) {
		t.Errorf("%s should contain %s", s, purged)
	}
	gap, _ := ParseMySQLGTIDSet(uuidA + ":1-3:10")
	if s.Contains(gap) {
		t.Errorf("%s should not contain %s", s, gap)
	}
	if before.String() != uuidA+":1-5" {
		t.Errorf("Clone shares state: %q", before.String())
	}
}

// The parsers must agree with go-mysql's, which builds the COM_BINLOG_DUMP
// start position from the same text.
func FuzzParseMariaGTIDSet(f *testing.F) {
	for _, s := range []string{"", "0-1-100", "0-1-1,1-2-2", "0-1", "0-1-100,0-2-5", " 3-4-5 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseMariaGTIDSet(s)
		if err != nil {
			if !errors.Is(err, ErrBadGTID) {
				t.Fatalf("%q: error %v is not ErrBadGTID", s, err)
			}
			return
		}
		again, err := ParseMariaGTIDSet(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("%q -> %q does not parse back (%v)", s, set.String(), err)
		}
		theirs, err := gomysql.ParseMariadbGTIDSet(set.String())
		if err != nil {
			t.Fatalf("go-mysql rejects %q: %v", set.String(), err)
		}
		mine := map[string]bool{}
		for _, p := range strings.Split(set.String(), ",") {
			if p != "" && p != "0-0-0" { // go-mysql drops the all-zero GTID
				mine[p] = true
			}
		}
		got := map[string]bool{}
		for _, p := range strings.Split(theirs.String(), ",") {
			if p != "" {
				got[p] = true
			}
		}
		if !reflect.DeepEqual(mine, got) {
			t.Fatalf("%q: mine %q, go-mysql %q", s, set.String(), theirs.String())
		}
	})
}

func FuzzParseMySQLGTIDSet(f *testing.F) {
	for _, s := range []string{"", uuidA + ":1-5", uuidA + ":1-5:7," + uuidB + ":3", uuidA + ":tag:1", uuidA + ":0", uuidA + ":5-3"} {
		f.Add(s, uint64(6))
	}
	f.Fuzz(func(t *testing.T, s string, gno uint64) {
		set, err := ParseMySQLGTIDSet(s)
		if err != nil {
			if !errors.Is(err, ErrBadGTID) {
				t.Fatalf("%q: error %v is not ErrBadGTID", s, err)
			}
			return
		}
		again, err := ParseMySQLGTIDSet(set.String())
		if err != nil || again.String() != set.String() || !again.Contains(set) || !set.Contains(again) {
			t.Fatalf("%q -> %q does not parse back (%v)", s, set.String(), err)
		}
		if gno > 0 {
			bigger := set.Clone()
			bigger.Add(uuidA, gno)
			if !bigger.Contains(set) {
				t.Fatalf("%q plus %s:%d does not contain %q", s, uuidA, gno, set.String())
			}
			one, _ := ParseMySQLGTIDSet(uuidA + ":" + itoa(gno))
			if !bigger.Contains(one) {
				t.Fatalf("%q plus %d misses it", s, gno)
			}
		}
		for src := range set.sets {
			if strings.Contains(src, ":") {
				return // go-mysql 1.13 does not parse tagged GTIDs
			}
		}
		if _, err := gomysql.ParseMysqlGTIDSet(set.String()); err != nil && !strings.Contains(set.String(), "18446744073709551615") {
			t.Fatalf("go-mysql rejects %q: %v", set.String(), err)
		}
	})
}

func itoa(u uint64) string {
	if u == 0 {
		return "0"
	}
	var b []byte
	for ; u > 0; u /= 10 {
		b = append([]byte{byte('0' + u%10)}, b...)
	}
	return string(b)
}
