package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/pipeline"
)

func init() { sourceCheckers[config.SourceMySQL] = mysqlChecker{} }

type mysqlChecker struct{}

// mysqlConnConfig parses source.dsn with source.tls applied, as `sluice
// run` connects.
func mysqlConnConfig(cfg *config.Config) (*mycapture.ConnConfig, error) {
	conn, err := mycapture.ParseDSN(cfg.Source.DSN)
	if err != nil {
		return nil, err
	}
	if conn.TLS, err = TLSConfig(cfg.Source.TLS, "source"); err != nil {
		return nil, err
	}
	if conn.TLS != nil && conn.TLS.ServerName == "" {
		conn.TLS.ServerName = conn.Host
	}
	return conn, nil
}

// mysqlFail records err as a failure of what, with the fix a
// mysql.SetupError carries (or fix).
func mysqlFail(r *CheckReport, what string, err error, fix string) {
	if se, ok := mycapture.SetupErr(err); ok {
		if se.Fix != "" {
			fix = se.Fix
		}
		r.Fail(what, se.Err.Error(), fix)
		return
	}
	r.Fail(what, err.Error(), fix)
}

// CheckSource checks what `sluice run` needs from MySQL or MariaDB: the
// same prerequisites mysql.Preflight and mysql.ValidateStart enforce at
// start, one line each.
func (mysqlChecker) CheckSource(ctx context.Context, c *CheckEnv) []string {
	cfg, r := c.Config, c.Report
	conn, err := mysqlConnConfig(cfg)
	if err != nil {
		mysqlFail(r, "mysql source.dsn", err, "correct source.dsn and source.tls")
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	db, err := mycapture.OpenDB(cctx, conn)
	if err != nil {
		detail, fix := explained(cfg, err, "check that the server is running and source.dsn has the right host, port, user and password")
		if se, ok := mycapture.SetupErr(err); ok {
			detail = se.Err.Error()
			if se.Fix != "" {
				fix = se.Fix
			}
		}
		r.Fail("mysql connection", conn.Where()+": "+detail, fix)
		r.Skip("mysql: remaining checks", "not connected")
		return nil
	}
	defer db.Close()
	srv, err := mycapture.Inspect(cctx, db)
	if err != nil {
		r.Fail("mysql connection", err.Error(), "")
		return nil
	}
	tlsNote := ""
	if conn.TLS != nil {
		tlsNote = ", TLS"
	}
	r.Pass("mysql connection", fmt.Sprintf("%s, %s %s (server_id %d)%s", conn.Where(), srv.Flavor, srv.Version, srv.ServerID, tlsNote))
	if err := mycapture.CheckVersion(srv); err != nil {
		mysqlFail(r, "mysql version", err, "")
	}

	// The binary log and its format.
	if logBin, _, err := mycapture.GlobalVar(cctx, db, "log_bin"); err != nil {
		r.Fail("mysql log_bin", err.Error(), "")
	} else if strings.EqualFold(logBin, "ON") || logBin == "1" {
		r.Pass("mysql log_bin", "ON")
	} else {
		r.Fail("mysql log_bin", fmt.Sprintf("is %s: the server writes no binary log", orOff(logBin)),
			"put log_bin=mysql-bin and a server_id under [mysqld] in my.cnf and restart the server (log_bin cannot be turned on at runtime)")
	}
	for _, v := range []struct{ name, want, why string }{
		{"binlog_format", "ROW", "row events carry the changed rows"},
		{"binlog_row_image", "FULL", "every column of every row, before and after"},
		{"binlog_row_metadata", "FULL", "column names, signedness, charsets and the primary key in the binlog"},
	} {
		if err := mycapture.RequireVar(cctx, db, v.name, v.want, v.why); err != nil {
			mysqlFail(r, "mysql "+v.name, err, "")
		} else {
			r.Pass("mysql "+v.name, v.want)
		}
	}
	if srv.Flavor == mycapture.FlavorMySQL {
		if v, ok, err := mycapture.GlobalVar(cctx, db, "binlog_row_value_options"); err == nil && ok && v != "" {
			r.Fail("mysql binlog_row_value_options", fmt.Sprintf("is %s: partial JSON updates leave the after image incomplete", v),
				"SET GLOBAL binlog_row_value_options = ''; and put binlog_row_value_options= under [mysqld] in my.cnf")
		}
	}
	checkMySQLGTID(cctx, r, db, srv)
	checkMySQLServerID(cctx, r, db, srv, cfg.Source.MySQL.ServerID)

	// Privileges, as granted (SHOW GRANTS).
	if err := mycapture.CheckGrants(cctx, db, srv, conn.User); err != nil {
		mysqlFail(r, "mysql privileges of "+conn.User, err, "")
	} else {
		client := "REPLICATION CLIENT"
		if srv.Flavor == mycapture.FlavorMariaDB && srv.AtLeast(10, 5) {
			client = "BINLOG MONITOR"
		}
		r.Pass("mysql privileges of "+conn.User, "REPLICATION SLAVE, "+client+" and SELECT")
	}
	checkMySQLRetention(cctx, r, db)

	// The captured tables.
	var topics []string
	tables, warnings, err := mycapture.ListTables(cctx, db, &mycapture.Filter{Include: cfg.Source.Tables, Exclude: cfg.Source.ExcludeTables})
	for _, w := range warnings {
		r.Warn("mysql source.tables", w, "check the pattern")
	}
	switch {
	case err != nil:
		mysqlFail(r, "mysql source.tables", err, "")
	case len(tables) == 0:
		r.Fail("mysql source.tables", "no table matches",
			"check the names (<database>.<table>, <database>.*) and that the user may see the tables (GRANT SELECT ON <database>.* TO '"+conn.User+"'@'<host>')")
	default:
		r.Pass("mysql source.tables", fmt.Sprintf("%d table(s) captured", len(tables)))
		topics = make([]string, len(tables))
		for i, t := range tables {
			topics[i] = pipeline.TableTopic(cfg.Name, t)
		}
	}

	checkMySQLSignalTable(cctx, r, db, cfg, conn.User)
	checkMySQLCheckpoint(ctx, cctx, c, db, srv)
	return topics
}

// checkMySQLSignalTable checks the table through which snapshot
// watermarks and requests reach the binlog (source.mysql.signal_table).
// Check creates nothing: a missing table is a warning, since `sluice run`
// creates it when the user may.
func checkMySQLSignalTable(ctx context.Context, r *CheckReport, db *sql.DB, cfg *config.Config, user string) {
	const what = "mysql source.mysql.signal_table"
	if cfg.Snapshot.Mode == mycapture.SnapshotNever {
		r.Skip(what, "snapshot.mode never")
		return
	}
	id, err := mycapture.ParseSignalTable(cfg.Source.MySQL.SignalTable)
	if err != nil {
		r.Fail(what, err.Error(), "name a table as <database>.<table>")
		return
	}
	exists, err := mycapture.SignalTableExists(ctx, db, id)
	switch {
	case err != nil:
		mysqlFail(r, what, err, "")
	case exists:
		r.Pass(what, id.String()+" exists (snapshots write their watermarks into it; the user needs SELECT, INSERT, DELETE on it)")
	default:
		r.Warn(what, id.String()+" does not exist: sluice run creates it if "+user+" may create it, and stops with this fix otherwise",
			mycapture.SignalFix(id, user))
	}
}

func orOff(s string) string {
	if s == "" {
		return "OFF"
	}
	return s
}

// checkMySQLGTID warns when positions cannot be GTID sets (MySQL) or the
// GTID history is not strict (MariaDB): Sluice still works from file:pos,
// but a failover to another server cannot resume.
func checkMySQLGTID(ctx context.Context, r *CheckReport, db *sql.DB, srv *mycapture.Server) {
	if srv.Flavor == mycapture.FlavorMariaDB {
		v, _, err := mycapture.GlobalVar(ctx, db, "gtid_strict_mode")
		switch {
		case err != nil:
			r.Warn("mariadb gtid_strict_mode", err.Error(), "")
		case strings.EqualFold(v, "ON") || v == "1":
			r.Pass("mariadb gtid_strict_mode", "ON")
		default:
			r.Warn("mariadb gtid_strict_mode", "is "+orOff(v)+": GTIDs out of order in a domain make the checkpoint's GTID position ambiguous after a failover",
				"SET GLOBAL gtid_strict_mode = ON; and put gtid_strict_mode=ON under [mysqld] in my.cnf")
		}
		return
	}
	mode, _, err := mycapture.GlobalVar(ctx, db, "gtid_mode")
	switch {
	case err != nil:
		r.Warn("mysql gtid_mode", err.Error(), "")
	case strings.EqualFold(mode, "ON"):
		r.Pass("mysql gtid_mode", "ON")
	default:
		r.Warn("mysql gtid_mode", "is "+orOff(mode)+": positions are binlog file:pos only, so Sluice cannot resume on another server after a failover",
			"SET GLOBAL enforce_gtid_consistency = ON; then step gtid_mode through OFF_PERMISSIVE, ON_PERMISSIVE to ON (SET GLOBAL gtid_mode = ...), "+
				"and put gtid_mode=ON and enforce_gtid_consistency=ON under [mysqld] in my.cnf")
	}
}

// checkMySQLServerID checks that source.mysql.server_id is neither the
// server's own nor that of a connected replica.
func checkMySQLServerID(ctx context.Context, r *CheckReport, db *sql.DB, srv *mycapture.Server, id uint32) {
	const what = "mysql source.mysql.server_id"
	fix := "set source.mysql.server_id to a number unique among the server and all its replicas"
	if id == srv.ServerID {
		r.Fail(what, fmt.Sprintf("%d is the server's own server_id", id), fix)
		return
	}
	replicas, err := mycapture.Replicas(ctx, db)
	if err != nil {
		grant := "REPLICATION CLIENT"
		if srv.Flavor == mycapture.FlavorMariaDB {
			grant = "REPLICATION MASTER ADMIN"
		}
		r.Warn(what, fmt.Sprintf("%d is not the server's own server_id (%d); the connected replicas could not be listed: %v", id, srv.ServerID, err),
			"make sure no replica uses server_id "+fmt.Sprint(id)+", or GRANT "+grant+" ON *.* to Sluice's user so that this check can list them")
		return
	}
	for _, rep := range replicas {
		if rep.ServerID != id {
			continue
		}
		if rep.Host == mycapture.ReplicaHost {
			// Sluice's binlog connections register as host "sluice".
			r.Warn(what, fmt.Sprintf("%d is used by a connected Sluice: this configuration's running instance, or another Sluice with the same server_id", id),
				"if no Sluice with this configuration is running, "+fix)
			return
		}
		r.Fail(what, fmt.Sprintf("%d is used by a connected replica (host %q): the server disconnects one of the two", id, rep.Host), fix)
		return
	}
	r.Pass(what, fmt.Sprintf("%d: not the server's own (%d) nor used by any of %d connected replica(s)", id, srv.ServerID, len(replicas)))
}

// checkMySQLRetention warns when binlogs expire within a day: a Sluice
// stopped longer than that cannot resume.
func checkMySQLRetention(ctx context.Context, r *CheckReport, db *sql.DB) {
	const what = "mysql binlog retention"
	secs, variable, err := mycapture.BinlogRetention(ctx, db)
	switch {
	case err != nil:
		r.Warn(what, err.Error(), "")
	case secs == 0:
		r.Pass(what, variable+" is 0: binlogs are never purged automatically (watch the disk)")
	case secs < 86400:
		r.Warn(what, fmt.Sprintf("%s: binlogs are purged after %s; a Sluice stopped longer than that cannot resume and must take a new snapshot",
			variable, time.Duration(secs*float64(time.Second))),
			"SET GLOBAL binlog_expire_logs_seconds = 604800; and put binlog_expire_logs_seconds=604800 under [mysqld] in my.cnf (MariaDB before 10.6: expire_logs_days=7)")
	default:
		r.Pass(what, fmt.Sprintf("%s: binlogs are kept %s", variable, time.Duration(secs*float64(time.Second))))
	}
}

// checkMySQLCheckpoint checks what mysql.Open checks before it resumes: the
// checkpoint belongs to this server and its binlog position and GTID set
// are still available.
func checkMySQLCheckpoint(ctx, cctx context.Context, c *CheckEnv, db *sql.DB, srv *mycapture.Server) {
	r := c.Report
	const what = "mysql checkpoint position"
	cp, err := c.Checkpoint(ctx)
	switch {
	case err != nil:
		r.Skip(what, "not compared with the checkpoint ("+err.Error()+")")
		return
	case cp == nil:
		r.Pass(what, "no checkpoint stored: sluice run starts from scratch")
		return
	}
	pos := cp.Position
	switch {
	case cp.ServerID == "":
	case cp.ServerID != srv.Identity():
		// Another server: what mysql.Open decides (capture/mysql/failover.go).
		executed, err := mycapture.ExecutedGTIDs(cctx, db, srv)
		if err == nil {
			pos, err = mycapture.FailoverStart(cp.ServerID, cp.Position, srv, executed)
		}
		if err != nil {
			mysqlFail(r, "mysql server identity", err, "")
			return
		}
		r.Pass("mysql server identity", fmt.Sprintf("the checkpoint belongs to server %s, not to this one (%s), but this server has executed every GTID of it: sluice run follows the failover and resumes by GTID",
			cp.ServerID, srv.Identity()))
	default:
		r.Pass("mysql server identity", "the checkpoint belongs to this server ("+srv.Identity()+")")
	}
	if !cp.SnapshotDone && c.Config.Snapshot.Mode != config.SnapshotNever {
		r.Pass(what, cp.Position.String()+": the snapshot is not complete, so sluice run takes it again")
		return
	}
	if err := mycapture.ValidateStart(cctx, db, srv, pos); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			r.Fail(what, err.Error(), "")
			return
		}
		mysqlFail(r, what, err, "")
		return
	}
	r.Pass(what, pos.String()+": still in the server's binary log")
}
