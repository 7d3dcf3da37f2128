package mysql

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// GTID sets in the two dialects Sluice reads. A checkpoint stores the set
// as text (checkpoint.Position.GTIDSet): the executed set including the
// last delivered transaction, in the server's own notation, so an operator
// can compare it with @@gtid_binlog_pos or @@gtid_executed.
//
// MariaDB: a GTID is domain-server-sequence; the replication position is
// one GTID per domain, the last one applied ("0-1-100,1-2-7"). With
// gtid_strict_mode sequence numbers only grow within a domain.
//
// MySQL: a GTID is source_uuid:transaction_number; a set is, per source,
// a list of closed intervals ("3e11fa47-...:1-5:7-9"). Tagged GTIDs
// (8.3+, uuid:tag:n) are kept per uuid:tag.

// ErrBadGTID reports GTID text that does not parse.
var ErrBadGTID = errors.New("malformed GTID")

// MariaGTID is one MariaDB GTID.
type MariaGTID struct {
	Domain   uint32
	ServerID uint32
	Seq      uint64
}

func (g MariaGTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.ServerID, g.Seq) }

// ParseMariaGTID parses "domain-server-seq".
func ParseMariaGTID(s string) (MariaGTID, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) != 3 {
		return MariaGTID{}, fmt.Errorf("%w: %q: want domain-server-sequence", ErrBadGTID, s)
	}
	d, err1 := strconv.ParseUint(parts[0], 10, 32)
	srv, err2 := strconv.ParseUint(parts[1], 10, 32)
	seq, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || !digitsOnly(parts[0]) || !digitsOnly(parts[1]) || !digitsOnly(parts[2]) {
		return MariaGTID{}, fmt.Errorf("%w: %q: want three decimal numbers", ErrBadGTID, s)
	}
	return MariaGTID{Domain: uint32(d), ServerID: uint32(srv), Seq: seq}, nil
}

// digitsOnly rejects the '+' that strconv accepts.
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// MariaGTIDSet is a MariaDB replication position: the last GTID per
// domain. The zero value is empty and ready to use.
type MariaGTIDSet struct {
	last map[uint32]MariaGTID
}

// ParseMariaGTIDSet parses "d-s-n[,d-s-n...]" ("" is the empty set). A
// domain may appear once.
func ParseMariaGTIDSet(s string) (MariaGTIDSet, error) {
	set := MariaGTIDSet{last: map[uint32]MariaGTID{}}
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		g, err := ParseMariaGTID(part)
		if err != nil {
			return MariaGTIDSet{}, err
		}
		if _, dup := set.last[g.Domain]; dup {
			return MariaGTIDSet{}, fmt.Errorf("%w: %q names domain %d twice", ErrBadGTID, s, g.Domain)
		}
		set.last[g.Domain] = g
	}
	return set, nil
}

// String returns the set sorted by domain, as MariaDB prints it.
func (s MariaGTIDSet) String() string {
	doms := make([]uint32, 0, len(s.last))
	for d := range s.last {
		doms = append(doms, d)
	}
	sort.Slice(doms, func(i, j int) bool { return doms[i] < doms[j] })
	parts := make([]string, len(doms))
	for i, d := range doms {
		parts[i] = s.last[d].String()
	}
	return strings.Join(parts, ",")
}

// Clone returns an independent copy.
func (s MariaGTIDSet) Clone() MariaGTIDSet {
	c := MariaGTIDSet{last: make(map[uint32]MariaGTID, len(s.last))}
	for d, g := range s.last {
		c.last[d] = g
	}
	return c
}

// Add records g as the last GTID of its domain.
func (s *MariaGTIDSet) Add(g MariaGTID) {
	if s.last == nil {
		s.last = map[uint32]MariaGTID{}
	}
	s.last[g.Domain] = g
}

// Domain returns the last GTID of a domain.
func (s MariaGTIDSet) Domain(d uint32) (MariaGTID, bool) {
	g, ok := s.last[d]
	return g, ok
}

// Domains returns the domains in the set, sorted.
func (s MariaGTIDSet) Domains() []uint32 {
	out := make([]uint32, 0, len(s.last))
	for d := range s.last {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Behind lists the domains in which s is ahead of server: server lacks the
// domain or its sequence is lower. A checkpoint ahead of the server means
// the server's binlog was reset or rewound (or it is another server).
func (s MariaGTIDSet) Behind(server MariaGTIDSet) []string {
	var out []string
	for _, d := range s.Domains() {
		g := s.last[d]
		sg, ok := server.last[d]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("domain %d: checkpoint at %s, the server has no GTID in that domain", d, g))
		case sg.Seq < g.Seq:
			out = append(out, fmt.Sprintf("domain %d: checkpoint at %s, the server only at %s", d, g, sg))
		}
	}
	return out
}

// MySQLGTIDSet is a MySQL GTID set: per source (uuid, or uuid:tag),
// sorted disjoint closed intervals of transaction numbers.
type MySQLGTIDSet struct {
	sets map[string][]Interval
}

// Interval is a closed range of transaction numbers.
type Interval struct{ Start, End uint64 }

// ParseMySQLGTIDSet parses MySQL's notation
// ("uuid:1-5:7,uuid2:1-3", whitespace and newlines allowed around ',').
func ParseMySQLGTIDSet(s string) (MySQLGTIDSet, error) {
	set := MySQLGTIDSet{sets: map[string][]Interval{}}
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		fields := strings.Split(part, ":")
		if len(fields) < 2 {
			return MySQLGTIDSet{}, fmt.Errorf("%w: %q: want uuid:interval[:interval...]", ErrBadGTID, part)
		}
		uuid := strings.ToLower(fields[0])
		if !isUUID(uuid) {
			return MySQLGTIDSet{}, fmt.Errorf("%w: %q is not a server uuid", ErrBadGTID, fields[0])
		}
		src := uuid
		for _, f := range fields[1:] {
			if f != "" && (f[0] < '0' || f[0] > '9') { // a tag: applies to the intervals after it
				if !isTag(f) {
					return MySQLGTIDSet{}, fmt.Errorf("%w: %q is not a GTID tag", ErrBadGTID, f)
				}
				src = uuid + ":" + strings.ToLower(f)
				continue
			}
			lo, hi, ok := strings.Cut(f, "-")
			a, err1 := strconv.ParseUint(lo, 10, 64)
			b := a
			var err2 error
			if ok {
				b, err2 = strconv.ParseUint(hi, 10, 64)
			}
			if err1 != nil || err2 != nil || !digitsOnly(lo) || (ok && !digitsOnly(hi)) || a == 0 || b < a {
				return MySQLGTIDSet{}, fmt.Errorf("%w: %q is not an interval n or n-m with 0 < n <= m", ErrBadGTID, f)
			}
			set.addInterval(src, Interval{a, b})
		}
	}
	return set, nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// isTag checks MySQL's tag syntax: a letter or '_', then up to 31 letters,
// digits or '_'.
func isTag(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z' || s[i] == '_' || i > 0 && s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

func (s *MySQLGTIDSet) addInterval(src string, iv Interval) {
	if s.sets == nil {
		s.sets = map[string][]Interval{}
	}
	ivs := append(s.sets[src], iv)
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].Start < ivs[j].Start })
	out := ivs[:0]
	for _, x := range ivs {
		if n := len(out); n > 0 && (out[n-1].End == ^uint64(0) || x.Start <= out[n-1].End+1) {
			out[n-1].End = max(out[n-1].End, x.End)
			continue
		}
		out = append(out, x)
	}
	s.sets[src] = out
}

// Add adds transaction gno of source src ("uuid" or "uuid:tag").
func (s *MySQLGTIDSet) Add(src string, gno uint64) {
	s.addInterval(strings.ToLower(src), Interval{gno, gno})
}

// Contains reports whether every transaction of o is in s.
func (s MySQLGTIDSet) Contains(o MySQLGTIDSet) bool {
	for src, ivs := range o.sets {
		mine := s.sets[src]
		for _, iv := range ivs {
			covered := false
			for _, m := range mine {
				if m.Start <= iv.Start && iv.End <= m.End {
					covered = true
					break
				}
			}
			if !covered {
				return false
			}
		}
	}
	return true
}

// Minus returns the transactions of s that are not in o.
func (s MySQLGTIDSet) Minus(o MySQLGTIDSet) MySQLGTIDSet {
	out := MySQLGTIDSet{sets: map[string][]Interval{}}
	for src, ivs := range s.sets {
		for _, iv := range ivs {
			rest := []Interval{iv}
			for _, x := range o.sets[src] {
				var next []Interval
				for _, r := range rest {
					if x.End < r.Start || x.Start > r.End {
						next = append(next, r)
						continue
					}
					if x.Start > r.Start {
						next = append(next, Interval{r.Start, x.Start - 1})
					}
					if x.End < r.End {
						next = append(next, Interval{x.End + 1, r.End})
					}
				}
				rest = next
			}
			for _, r := range rest {
				out.addInterval(src, r)
			}
		}
	}
	return out
}

// Empty reports whether the set has no transaction.
func (s MySQLGTIDSet) Empty() bool {
	for _, ivs := range s.sets {
		if len(ivs) > 0 {
			return false
		}
	}
	return true
}

// Tagged reports whether the set has tagged GTIDs (uuid:tag:n).
func (s MySQLGTIDSet) Tagged() bool {
	for src := range s.sets {
		if strings.Contains(src, ":") {
			return true
		}
	}
	return false
}

// Clone returns an independent copy.
func (s MySQLGTIDSet) Clone() MySQLGTIDSet {
	c := MySQLGTIDSet{sets: make(map[string][]Interval, len(s.sets))}
	for k, v := range s.sets {
		c.sets[k] = append([]Interval(nil), v...)
	}
	return c
}

// String returns the set in MySQL's notation, sources sorted.
func (s MySQLGTIDSet) String() string {
	srcs := make([]string, 0, len(s.sets))
	for k := range s.sets {
		srcs = append(srcs, k)
	}
	sort.Strings(srcs)
	var b strings.Builder
	for i, src := range srcs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(src)
		for _, iv := range s.sets[src] {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(iv.Start, 10))
			if iv.End != iv.Start {
				b.WriteByte('-')
				b.WriteString(strconv.FormatUint(iv.End, 10))
			}
		}
	}
	return b.String()
}
