package mysql

import (
	"bytes"

	"github.com/go-mysql-org/go-mysql/replication"
)

// A TABLE_MAP event precedes every rows event, so a stream of small
// transactions carries one per statement, nearly always the same bytes as
// the last one for that table id. Building the schema.Table again from it
// (column names, collations, signedness, enum labels) cost about a tenth
// of the MySQL drain's CPU; tableMap skips it when the event's body is the
// one the current mapping was made from.

// mapBody returns the body of a TABLE_MAP event: its bytes without the
// header (timestamp and position differ event by event) and without the
// checksum (which covers the header). It returns nil when where the
// checksum ends is not known: the event is then never taken as the same.
func (s *Source) mapBody(ev *replication.BinlogEvent) []byte {
	if s.format == nil {
		return nil
	}
	raw := ev.RawData
	if !s.inPayload && s.format.ChecksumAlgorithm == replication.BINLOG_CHECKSUM_ALG_CRC32 {
		// Events inside a Transaction_payload event have no checksum.
		if len(raw) < replication.EventHeaderSize+replication.BinlogChecksumLength {
			return nil
		}
		raw = raw[:len(raw)-replication.BinlogChecksumLength]
	}
	if len(raw) <= replication.EventHeaderSize {
		return nil
	}
	return raw[replication.EventHeaderSize:]
}

// sameMap reports whether m, the mapping of a table id, was made from a
// TABLE_MAP event with this body and still stands: the table version it
// names is still the last one delivered for the table, and that version
// took nothing from information_schema (which a DDL may have changed
// since without changing the binlog's metadata).
func (s *Source) sameMap(m *mapped, body []byte) bool {
	return body != nil && m.body != nil && m.table != nil && m.err == nil &&
		s.versions[m.id] == m.table && !needsInfo(m.table) && bytes.Equal(m.body, body)
}
