package mysql

import (
	"errors"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// A binlog connection the server dropped for a newer one with the same
// server_id stops the source (reconnecting would drop the newer one in
// turn, forever); a killed connection is reconnected.
func TestStreamErrorSameServerID(t *testing.T) {
	s := &Source{cfg: Config{ServerID: 5001}}
	for _, me := range []*gomysql.MyError{
		{Code: erSlaveSameID, State: "HY000", Message: "A slave with the same server_uuid/server_id is already connected; the first event '.' at 0, the last event read from 'mysql-bin.000001' at 1036, the last byte read from 'mysql-bin.000001' at 1067."},
		{Code: erMasterFatalReading, State: "HY000", Message: "A replica with the same server_uuid/server_id as this replica has connected to the source; the first event 'binlog.000001' at 4, the last event read from './binlog.000001' at 126, the last byte read from './binlog.000001' at 126."},
	} {
		err := s.streamError(me)
		var se *SetupError
		if !errors.As(err, &se) || se.Transient || retriable(err) {
			t.Errorf("%d: got %v (%T), want a fatal SetupError", me.Code, err, err)
			continue
		}
		if !strings.Contains(err.Error(), "server_id 5001") || !strings.Contains(se.Fix, "one Sluice instance per name") {
			t.Errorf("%d: %v; fix: %s", me.Code, err, se.Fix)
		}
	}
	if err := s.streamError(&gomysql.MyError{Code: erConnectionKilled, Message: "Connection was killed"}); !retriable(err) {
		t.Errorf("killed connection: %v is not retried", err)
	}
}
