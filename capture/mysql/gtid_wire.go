package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/google/uuid"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// The binary form of a MySQL GTID set, as COM_BINLOG_DUMP_GTID carries
// the set a replica has executed (and Previous_gtids events store it).
// All integers are little-endian.
//
// Untagged format (every MySQL with GTIDs):
//
//	u64 n_sids
//	n_sids times: uuid (16 bytes), u64 n_intervals,
//	              n_intervals times: u64 start, u64 end (exclusive)
//
// Tagged format (MySQL 8.3+), used when the set has any tagged GTID: the
// first u64 carries the format (1) in its top byte and again in its low
// byte, and n_sids in between (bits 8-55); every entry is one (uuid, tag)
// pair, whose tag follows the uuid as a string of MySQL's serialization
// library (a variable-length integer for its length, then the bytes;
// tags have at most 32 characters, so the length is one byte, length<<1)
// and is empty (one 0x00 byte) for the uuid's untagged GTIDs. A uuid with
// tagged and untagged GTIDs has an entry for each.
//
// Intervals of an entry are ascending and neither overlap nor touch
// (start > the previous end), as the server checks on decoding. Entries
// are written in (uuid, tag) order, as the server writes them; it reads
// them in any order.

const (
	gtidFormatUntagged = 0
	gtidFormatTagged   = 1
	// maxGNO is the largest transaction number MySQL assigns (GNO_END-1).
	maxGNO = math.MaxInt64 - 1
)

// ErrBadGTIDEncoding reports bytes that are not an encoded GTID set.
var ErrBadGTIDEncoding = errors.New("malformed GTID set encoding")

// sources returns the entries of the set in (uuid, tag) order: keys are
// "uuid" or "uuid:tag" with a uuid of fixed length, so their string order
// is that order, a uuid's untagged entry first.
func (s MySQLGTIDSet) sources() []string {
	srcs := make([]string, 0, len(s.sets))
	for k, ivs := range s.sets {
		if len(ivs) > 0 {
			srcs = append(srcs, k)
		}
	}
	sort.Strings(srcs)
	return srcs
}

// Encode returns the set in the binary form of COM_BINLOG_DUMP_GTID: the
// untagged format when the set has no tagged GTID (what every server
// reads), else the tagged format, which only MySQL 8.3+ reads. The set's
// transaction numbers must not exceed MySQL's largest (dumpSet checks).
func (s MySQLGTIDSet) Encode() []byte {
	srcs := s.sources()
	format := gtidFormatUntagged
	for _, src := range srcs {
		if strings.Contains(src, ":") {
			format = gtidFormatTagged
		}
	}
	n := uint64(len(srcs))
	head := n
	if format == gtidFormatTagged {
		head = uint64(gtidFormatTagged)<<56 | n<<8 | uint64(gtidFormatTagged)
	}
	b := binary.LittleEndian.AppendUint64(nil, head)
	for _, src := range srcs {
		u, tag, _ := strings.Cut(src, ":")
		id := uuid.MustParse(u) // keys are checked uuids
		b = append(b, id[:]...)
		if format == gtidFormatTagged {
			b = append(b, byte(len(tag)<<1)) // a tag has at most 32 characters
			b = append(b, tag...)
		}
		ivs := s.sets[src]
		b = binary.LittleEndian.AppendUint64(b, uint64(len(ivs)))
		for _, iv := range ivs {
			b = binary.LittleEndian.AppendUint64(b, iv.Start)
			b = binary.LittleEndian.AppendUint64(b, iv.End+1)
		}
	}
	return b
}

// DecodeMySQLGTIDSet parses the binary form Encode writes (either
// format). It rejects what the server rejects (an unknown format, counts
// larger than the bytes, intervals out of order, touching or empty,
// trailing bytes, tags that are not tags) and, stricter than the server,
// entries without intervals or named twice, which no server writes.
func DecodeMySQLGTIDSet(b []byte) (MySQLGTIDSet, error) {
	bad := func(format string, a ...any) (MySQLGTIDSet, error) {
		return MySQLGTIDSet{}, fmt.Errorf("%w: %s", ErrBadGTIDEncoding, fmt.Sprintf(format, a...))
	}
	if len(b) < 8 {
		return bad("%d bytes, want at least 8", len(b))
	}
	head := binary.LittleEndian.Uint64(b)
	b = b[8:]
	format, n := head>>56, head&(1<<56-1)
	switch format {
	case gtidFormatUntagged:
	case gtidFormatTagged:
		if head&0xff != gtidFormatTagged {
			return bad("tagged format without its low format byte (%#x)", head)
		}
		n = n >> 8
	default:
		return bad("unknown format %d", format)
	}
	set := MySQLGTIDSet{sets: map[string][]Interval{}}
	for i := uint64(0); i < n; i++ {
		if len(b) < 16 {
			return bad("entry %d of %d: truncated uuid", i, n)
		}
		src := uuid.UUID(b[:16]).String()
		b = b[16:]
		if format == gtidFormatTagged {
			if len(b) < 1 || b[0]&1 != 0 {
				return bad("entry %d: tag length missing or not one byte", i)
			}
			l := int(b[0] >> 1)
			if len(b) < 1+l {
				return bad("entry %d: truncated tag", i)
			}
			tag := string(b[1 : 1+l])
			b = b[1+l:]
			if l > 0 {
				if !isTag(tag) || strings.ToLower(tag) != tag {
					return bad("entry %d: %q is not a GTID tag", i, tag)
				}
				src += ":" + tag
			}
		}
		if _, dup := set.sets[src]; dup {
			return bad("entry %d: %s twice", i, src)
		}
		if len(b) < 8 {
			return bad("entry %d: truncated interval count", i)
		}
		m := binary.LittleEndian.Uint64(b)
		b = b[8:]
		if m == 0 || m > uint64(len(b))/16 {
			return bad("entry %d: %d intervals in %d bytes", i, m, len(b))
		}
		var last uint64
		ivs := make([]Interval, 0, m)
		for j := uint64(0); j < m; j++ {
			start, end := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
			b = b[16:]
			if start <= last || end <= start || end-1 > maxGNO {
				return bad("entry %d: interval [%d, %d) after %d", i, start, end, last)
			}
			last = end
			ivs = append(ivs, Interval{start, end - 1})
		}
		set.sets[src] = ivs
	}
	if len(b) != 0 {
		return bad("%d bytes after the last entry", len(b))
	}
	return set, nil
}

// dumpSet is the start of a MySQL binlog stream by GTID, handed to
// go-mysql's BinlogSyncer.StartSyncGTID, which writes Encode into
// COM_BINLOG_DUMP_GTID. go-mysql's own MysqlGTIDSet has no tags; this one
// sends them in MySQL's tagged format. The syncer updates the set it was
// given as untagged GTID events pass, by asserting go-mysql's type, so a
// stream started from a dumpSet runs the syncer in raw mode (stream).
type dumpSet struct{ MySQLGTIDSet }

var _ gomysql.GTIDSet = (*dumpSet)(nil)

// newDumpSet checks that every transaction number of s is one MySQL can
// have, so that Encode's exclusive interval ends do not overflow.
func newDumpSet(s MySQLGTIDSet) (*dumpSet, error) {
	for src, ivs := range s.sets {
		for _, iv := range ivs {
			if iv.End > maxGNO {
				return nil, fmt.Errorf("%w: %s:%d-%d: MySQL transaction numbers end at %d", ErrBadGTID, src, iv.Start, iv.End, uint64(maxGNO))
			}
		}
	}
	return &dumpSet{s.Clone()}, nil
}

func (d *dumpSet) Encode() []byte { return d.MySQLGTIDSet.Encode() }

func (d *dumpSet) Equal(o gomysql.GTIDSet) bool {
	return o != nil && d.String() == o.String()
}

func (d *dumpSet) Contain(o gomysql.GTIDSet) bool {
	other, err := ParseMySQLGTIDSet(o.String())
	return err == nil && d.Contains(other)
}

func (d *dumpSet) Update(gtid string) error {
	other, err := ParseMySQLGTIDSet(gtid)
	if err != nil {
		return err
	}
	for src, ivs := range other.sets {
		for _, iv := range ivs {
			d.addInterval(src, iv)
		}
	}
	return nil
}

func (d *dumpSet) Clone() gomysql.GTIDSet { return &dumpSet{d.MySQLGTIDSet.Clone()} }

func (d *dumpSet) IsEmpty() bool { return d.Empty() }
