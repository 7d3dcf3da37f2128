package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicecdc/sluice/checkpoint"
)

// Following a failover. A checkpoint names the server it was taken on
// (Server.Identity). On another server a binlog file:position means
// nothing, but a GTID set does: it names transactions, which a replica
// that was promoted has executed too, under its own binlog files. So a
// checkpoint is followed to a new server exactly when both have GTIDs and
// the new server has executed every transaction of the checkpoint's set;
// the stream then resumes by GTID (the server sends what the set lacks)
// and the next checkpoint carries the new server's identity and position.
// Anything else is refused, naming what is missing.

// failoverFix is the advice when a checkpoint cannot be followed.
const failoverFix = "point source.dsn at a server that has executed every transaction of the checkpoint " +
	"(the original primary, or a replica that has caught up), or give this source a new name (a new name starts over with a snapshot)"

// FailoverStart decides whether a checkpoint taken on server cpID can be
// resumed on srv, whose executed GTIDs are executed (MySQL: gtid_executed;
// MariaDB: gtid_binlog_pos). It returns the position to resume from on
// srv: the checkpoint's GTID set without its file:position, which belongs
// to the old server. A refusal is a *SetupError that says why: no GTIDs,
// another flavor, or the GTIDs the new server lacks (MySQL: tagged ones
// too, as uuid:tag:n; a server before 8.3 has none, so it lacks every
// tagged GTID of a checkpoint).
func FailoverStart(cpID string, cp checkpoint.Position, srv *Server, executed string) (checkpoint.Position, error) {
	refuse := func(err error) (checkpoint.Position, error) {
		return checkpoint.Position{}, &SetupError{What: "mysql server identity",
			Err: fmt.Errorf("the checkpoint belongs to server %s but source.dsn reaches server %s: %w", cpID, srv.Identity(), err),
			Fix: failoverFix}
	}
	if flavor, _, _ := strings.Cut(cpID, ":"); flavor != srv.Flavor {
		return refuse(fmt.Errorf("the checkpoint was taken on %s, this server is %s", flavor, srv.Flavor))
	}
	if !srv.GTID {
		return refuse(errors.New("this server has gtid_mode OFF, so it cannot be asked for the transactions after the checkpoint's GTID set " +
			"(turn gtid_mode=ON, enforce_gtid_consistency=ON on every server)"))
	}
	if cp.GTIDSet == "" {
		return refuse(errors.New("without GTIDs a checkpoint is a binlog file:position, which names a place in the old server's binary log only, " +
			"so Sluice cannot tell where to resume on another server (turn gtid_mode=ON, enforce_gtid_consistency=ON on every server " +
			"so that a later failover can be followed)"))
	}
	out := checkpoint.Position{GTIDSet: cp.GTIDSet}
	switch srv.Flavor {
	case FlavorMariaDB:
		want, err := ParseMariaGTIDSet(cp.GTIDSet)
		if err != nil {
			return checkpoint.Position{}, err
		}
		have, err := ParseMariaGTIDSet(executed)
		if err != nil {
			return checkpoint.Position{}, err
		}
		if behind := want.Behind(have); len(behind) > 0 {
			return refuse(fmt.Errorf("it lacks transactions of the checkpoint (gtid_binlog_pos %s; is log_slave_updates on?): missing %s",
				orEmpty(executed), strings.Join(behind, "; ")))
		}
	default:
		want, err := ParseMySQLGTIDSet(cp.GTIDSet)
		if err != nil {
			return checkpoint.Position{}, err
		}
		have, err := ParseMySQLGTIDSet(executed)
		if err != nil {
			return checkpoint.Position{}, err
		}
		if missing := want.Minus(have); !missing.Empty() {
			return refuse(fmt.Errorf("it lacks transactions of the checkpoint: missing GTIDs %s (gtid_executed %s)", missing, orEmpty(executed)))
		}
	}
	return out, nil
}

// ExecutedGTIDs reads what FailoverStart compares a checkpoint with:
// MariaDB's gtid_binlog_pos (the transactions in this server's own binary
// log), MySQL's gtid_executed.
func ExecutedGTIDs(ctx context.Context, q querier, srv *Server) (string, error) {
	v := "@@GLOBAL.gtid_executed"
	if srv.Flavor == FlavorMariaDB {
		v = "@@GLOBAL.gtid_binlog_pos"
	}
	var s string
	if err := q.QueryRowContext(ctx, "SELECT "+v).Scan(&s); err != nil {
		return "", fmt.Errorf("mysql: reading %s: %w", v, err)
	}
	return s, nil
}
