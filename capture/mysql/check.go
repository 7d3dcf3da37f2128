package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Helpers for `sluice check` and `sluice status`: the same checks Preflight
// and ValidateStart make, one prerequisite at a time, so each can be
// reported on its own line.

// GlobalVar reads a global variable; ok is false when the server does not
// have it.
func GlobalVar(ctx context.Context, q querier, name string) (string, bool, error) {
	return globalVar(ctx, q, name)
}

// RequireVar returns a *SetupError (with the SET GLOBAL statement and the
// my.cnf line) unless the global variable has the wanted value.
func RequireVar(ctx context.Context, q querier, name, want, why string) error {
	return requireVar(ctx, q, name, want, why)
}

// CheckGrants returns a *SetupError naming the missing privileges among
// REPLICATION SLAVE, REPLICATION CLIENT (MariaDB 10.5+: BINLOG MONITOR) and
// SELECT, with the GRANT statement that adds them.
func CheckGrants(ctx context.Context, q querier, srv *Server, user string) error {
	return checkGrants(ctx, q, srv, user)
}

// AtLeast reports whether the server's version is at least major.minor.
func (s *Server) AtLeast(major, minor int) bool { return s.atLeast(major, minor) }

// CheckVersion returns a *SetupError when the server is too old for
// binlog_row_metadata=FULL.
func CheckVersion(srv *Server) error {
	switch {
	case srv.Flavor == FlavorMariaDB && !srv.atLeast(10, 5):
		return &SetupError{What: "mariadb version", Err: fmt.Errorf("%s is too old", srv.Version), Fix: "use MariaDB 10.5 or newer (binlog_row_metadata=FULL)"}
	case srv.Flavor == FlavorMySQL && !srv.atLeast(8, 0):
		return &SetupError{What: "mysql version", Err: fmt.Errorf("%s is too old", srv.Version), Fix: "use MySQL 8.0 or newer (binlog_row_metadata=FULL)"}
	}
	return nil
}

// ErrNotPermitted is returned (wrapped) when the user may not run a
// statement.
var ErrNotPermitted = errors.New("not permitted")

// Replica is one row of SHOW REPLICAS / SHOW SLAVE HOSTS.
type Replica struct {
	ServerID uint32
	Host     string
}

// Replicas lists the replicas registered with the server (SHOW REPLICAS,
// or SHOW SLAVE HOSTS where that does not parse). A running Sluice is
// among them: its binlog connection registers with its host name.
func Replicas(ctx context.Context, q querier) ([]Replica, error) {
	rows, err := q.QueryContext(ctx, "SHOW REPLICAS")
	if n, ok := myErrNo(err); ok && n == erParseError {
		rows, err = q.QueryContext(ctx, "SHOW SLAVE HOSTS")
	}
	if err != nil {
		if n, ok := myErrNo(err); ok && n == erSpecificAccess {
			return nil, fmt.Errorf("%w: %w", ErrNotPermitted, err)
		}
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	idx, hostIdx := -1, -1
	for i, c := range cols {
		switch {
		case strings.EqualFold(c, "Server_id"):
			idx = i
		case strings.EqualFold(c, "Host"):
			hostIdx = i
		}
	}
	var out []Replica
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if idx < 0 {
			continue
		}
		if id, err := strconv.ParseUint(string(vals[idx]), 10, 32); err == nil {
			r := Replica{ServerID: uint32(id)}
			if hostIdx >= 0 {
				r.Host = string(vals[hostIdx])
			}
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// BinlogRetention returns the binary log retention in seconds (0: binlogs
// are never purged automatically) and the variable it comes from:
// binlog_expire_logs_seconds when set, else expire_logs_days.
func BinlogRetention(ctx context.Context, q querier) (seconds float64, variable string, err error) {
	v, ok, err := globalVar(ctx, q, "binlog_expire_logs_seconds")
	if err != nil {
		return 0, "", err
	}
	if ok {
		if s, perr := strconv.ParseFloat(v, 64); perr == nil && s > 0 {
			return s, "binlog_expire_logs_seconds", nil
		}
	}
	d, okd, err := globalVar(ctx, q, "expire_logs_days")
	if err != nil {
		return 0, "", err
	}
	if okd {
		if f, perr := strconv.ParseFloat(d, 64); perr == nil {
			return f * 86400, "expire_logs_days", nil
		}
	}
	if ok {
		return 0, "binlog_expire_logs_seconds", nil
	}
	return 0, "expire_logs_days", nil
}

// SetupErr returns err as a *SetupError when it is one.
func SetupErr(err error) (*SetupError, bool) {
	var se *SetupError
	ok := errors.As(err, &se)
	return se, ok
}

// ReplicaHost is the host name Sluice's binlog connection registers with
// (BinlogSyncerConfig.Localhost): a Replica with this Host is a Sluice.
const ReplicaHost = "sluice"
