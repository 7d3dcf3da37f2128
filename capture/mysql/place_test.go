package mysql

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestPlace: the events of a MariaDB 11.8 transaction as the server wrote
// them (mariadb-binlog of a real binlog: end_log_pos 0 inside the group),
// after a stream's artificial rotate and a format description sent with no
// position. Each gets its place in the file; the rows event starts at 3076.
func TestPlace(t *testing.T) {
	s := &Source{}
	for _, tc := range []struct {
		what            string
		logPos, size    uint32
		artificial      bool
		wantPos, wantAt uint32 // end, and start (end - size)
	}{
		{"artificial rotate", 0, 44, true, 0, 0},
		{"format description without a position", 0, 256, false, 0, 0},
		{"GTID", 2924, 42, false, 2924, 2882},
		{"Annotate_rows", 0, 61, false, 2985, 2924},
		{"Table_map", 0, 91, false, 3076, 2985},
		{"Write_rows", 0, 72, false, 3148, 3076},
		{"Table_map", 0, 91, false, 3239, 3148},
		{"Xid", 3270, 31, false, 3270, 3239},
		{"GTID after a gap", 4000, 42, false, 4000, 3958},
		{"Query", 0, 100, false, 4100, 4000},
	} {
		var flags uint16
		if tc.artificial {
			flags = replication.LOG_EVENT_ARTIFICIAL_F
		}
		ev := &replication.BinlogEvent{Header: &replication.EventHeader{LogPos: tc.logPos, EventSize: tc.size, Flags: flags}}
		s.place(ev)
		if ev.Header.LogPos != tc.wantPos {
			t.Errorf("%s: end %d, want %d", tc.what, ev.Header.LogPos, tc.wantPos)
		}
		if tc.wantPos != 0 && ev.Header.LogPos-ev.Header.EventSize != tc.wantAt {
			t.Errorf("%s: starts at %d, want %d", tc.what, ev.Header.LogPos-ev.Header.EventSize, tc.wantAt)
		}
	}
}
