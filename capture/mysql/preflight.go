package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Flavors of server.
const (
	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"
)

// Server describes the source server.
type Server struct {
	Flavor   string
	Version  string
	ServerID uint32
	// UUID is MySQL's @@server_uuid.
	UUID string
	// DomainID is MariaDB's @@gtid_domain_id.
	DomainID uint32
	// GTID reports whether positions can be GTID sets: always for MariaDB,
	// with gtid_mode=ON for MySQL.
	GTID bool
}

// Identity is what a checkpoint stores as ServerID, so a restart against
// another server is refused: "mysql:<server_uuid>" or
// "mariadb:<server_id>:<gtid_domain_id>" (MariaDB has no server uuid).
func (s *Server) Identity() string {
	if s.Flavor == FlavorMariaDB {
		return fmt.Sprintf("mariadb:%d:%d", s.ServerID, s.DomainID)
	}
	return "mysql:" + s.UUID
}

// Inspect reads the server's flavor, version and identity.
func Inspect(ctx context.Context, q querier) (*Server, error) {
	s := &Server{}
	if err := q.QueryRowContext(ctx, "SELECT @@version, @@server_id").Scan(&s.Version, &s.ServerID); err != nil {
		return nil, fmt.Errorf("mysql: reading @@version: %w", err)
	}
	if strings.Contains(strings.ToLower(s.Version), "mariadb") {
		s.Flavor, s.GTID = FlavorMariaDB, true
		if err := q.QueryRowContext(ctx, "SELECT @@gtid_domain_id").Scan(&s.DomainID); err != nil {
			return nil, fmt.Errorf("mysql: reading @@gtid_domain_id: %w", err)
		}
		return s, nil
	}
	s.Flavor = FlavorMySQL
	if err := q.QueryRowContext(ctx, "SELECT @@server_uuid").Scan(&s.UUID); err != nil {
		return nil, fmt.Errorf("mysql: reading @@server_uuid: %w", err)
	}
	var mode string
	if err := q.QueryRowContext(ctx, "SELECT @@gtid_mode").Scan(&mode); err == nil {
		s.GTID = strings.EqualFold(mode, "ON")
	}
	return s, nil
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

func (s *Server) atLeast(major, minor int) bool {
	m := versionRE.FindStringSubmatch(s.Version)
	if m == nil {
		return true
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a > major || a == major && b >= minor
}

// globalVar reads a global variable; ok is false when the server does not
// have it.
func globalVar(ctx context.Context, q querier, name string) (string, bool, error) {
	var n, v string
	err := q.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE '"+name+"'").Scan(&n, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("mysql: reading %s: %w", name, err)
	}
	return v, true, nil
}

// requireVar returns a SetupError unless the global variable has the wanted
// value, with the runtime fix and the my.cnf line that keeps it.
func requireVar(ctx context.Context, q querier, name, want, why string) error {
	v, ok, err := globalVar(ctx, q, name)
	if err != nil {
		return err
	}
	if !ok {
		return &SetupError{What: "mysql " + name, Err: errors.New("the server does not have this setting"),
			Fix: "use MySQL 8.0 or newer, or MariaDB 10.5 or newer"}
	}
	if !strings.EqualFold(v, want) {
		return &SetupError{What: "mysql " + name, Err: fmt.Errorf("is %s, Sluice needs %s (%s)", v, want, why),
			Fix: fmt.Sprintf("SET GLOBAL %s = '%s'; and put %s=%s under [mysqld] in my.cnf so a restart keeps it "+
				"(sessions already connected keep the old value until they reconnect)", name, want, name, want)}
	}
	return nil
}

// Preflight checks every server prerequisite and returns each problem
// found (nil: none): the binary log in ROW format with FULL row images and
// FULL row metadata, the privileges, and a replica server_id that is not
// the server's own.
func Preflight(ctx context.Context, q querier, srv *Server, user string, replicaID uint32) []error {
	var problems []error
	add := func(err error) {
		if err != nil {
			problems = append(problems, err)
		}
	}
	switch {
	case srv.Flavor == FlavorMariaDB && !srv.atLeast(10, 5):
		add(&SetupError{What: "mariadb version", Err: fmt.Errorf("%s is too old", srv.Version), Fix: "use MariaDB 10.5 or newer (binlog_row_metadata=FULL)"})
	case srv.Flavor == FlavorMySQL && !srv.atLeast(8, 0):
		add(&SetupError{What: "mysql version", Err: fmt.Errorf("%s is too old", srv.Version), Fix: "use MySQL 8.0 or newer (binlog_row_metadata=FULL)"})
	}
	logBin, _, err := globalVar(ctx, q, "log_bin")
	add(err)
	if err == nil && !strings.EqualFold(logBin, "ON") && logBin != "1" {
		add(&SetupError{What: "mysql log_bin", Err: fmt.Errorf("is %s: the server writes no binary log", orNone(logBin)),
			Fix: "put log_bin=mysql-bin and a server_id under [mysqld] in my.cnf and restart the server (log_bin cannot be turned on at runtime)"})
	}
	add(requireVar(ctx, q, "binlog_format", "ROW", "row events carry the changed rows"))
	add(requireVar(ctx, q, "binlog_row_image", "FULL", "every column of every row, before and after"))
	add(requireVar(ctx, q, "binlog_row_metadata", "FULL", "column names, signedness, charsets and the primary key in the binlog"))
	if srv.Flavor == FlavorMySQL {
		if v, ok, err := globalVar(ctx, q, "binlog_row_value_options"); err == nil && ok && v != "" {
			add(&SetupError{What: "mysql binlog_row_value_options", Err: fmt.Errorf("is %s: partial JSON updates leave the after image incomplete", v),
				Fix: "SET GLOBAL binlog_row_value_options = ''; and put binlog_row_value_options= under [mysqld] in my.cnf"})
		}
	}
	if replicaID == srv.ServerID {
		add(&SetupError{What: "source.mysql.server_id", Err: fmt.Errorf("%d is the server's own server_id", replicaID),
			Fix: "choose a number unique among the server and all its replicas"})
	}
	add(checkGrants(ctx, q, srv, user))
	return problems
}

func orNone(s string) string {
	if s == "" {
		return "OFF"
	}
	return s
}

// checkGrants reads SHOW GRANTS (and the grants of the roles it names) and
// requires REPLICATION SLAVE, REPLICATION CLIENT (MariaDB: BINLOG MONITOR)
// and SELECT. It reads what is granted, not what is active, so a
// privilege only in a role that is not a default role is still counted.
func checkGrants(ctx context.Context, q querier, srv *Server, user string) error {
	grants, err := showGrants(ctx, q, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return fmt.Errorf("mysql: SHOW GRANTS: %w", err)
	}
	var all []string
	all = append(all, grants...)
	for _, g := range grants {
		if role, ok := roleGrant(g); ok {
			rg, err := showGrants(ctx, q, "SHOW GRANTS FOR "+role)
			if err == nil {
				all = append(all, rg...)
			}
		}
	}
	have := map[string]bool{}
	for _, g := range all {
		privs, on, ok := parseGrant(g)
		if !ok {
			continue
		}
		for _, p := range privs {
			if on == "*.*" {
				have[p] = true
			}
			if p == "SELECT" || p == "ALL PRIVILEGES" || p == "ALL" {
				have["SELECT(any)"] = true
			}
		}
	}
	hasAny := func(ps ...string) bool {
		for _, p := range ps {
			if have[p] {
				return true
			}
		}
		return false
	}
	var missing []string
	if !hasAny("ALL PRIVILEGES", "ALL", "REPLICATION SLAVE", "REPLICATION REPLICA") {
		missing = append(missing, "REPLICATION SLAVE")
	}
	client := "REPLICATION CLIENT"
	if srv.Flavor == FlavorMariaDB && srv.atLeast(10, 5) {
		client = "BINLOG MONITOR"
	}
	if !hasAny("ALL PRIVILEGES", "ALL", "REPLICATION CLIENT", "BINLOG MONITOR", "SUPER") {
		missing = append(missing, client)
	}
	if !have["SELECT(any)"] {
		missing = append(missing, "SELECT")
	}
	if len(missing) == 0 {
		return nil
	}
	if user == "" {
		user = "<user>"
	}
	fix := fmt.Sprintf("GRANT SELECT, REPLICATION SLAVE, %s ON *.* TO '%s'@'<host>'", client, user)
	if srv.Flavor == FlavorMySQL {
		fix = fmt.Sprintf("GRANT SELECT, RELOAD, REPLICATION SLAVE, %s ON *.* TO '%s'@'<host>' "+
			"(RELOAD lets the initial snapshot read its start position and bounds consistently; docs/mysql.md)", client, user)
	}
	return &SetupError{What: "mysql privileges of " + user, Err: fmt.Errorf("missing %s", strings.Join(missing, ", ")), Fix: fix}
}

func showGrants(ctx context.Context, q querier, stmt string) ([]string, error) {
	rows, err := q.QueryContext(ctx, stmt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

var (
	grantRE = regexp.MustCompile(`(?i)^GRANT (.+?) ON (\S+) TO `)
	roleRE  = regexp.MustCompile("(?i)^GRANT ((?:`[^`]+`(?:@`[^`]*`)?(?:,\\s*)?)+) TO ")
)

// parseGrant splits "GRANT A, B ON db.* TO ..." into privileges and target.
func parseGrant(g string) (privs []string, on string, ok bool) {
	m := grantRE.FindStringSubmatch(g)
	if m == nil {
		return nil, "", false
	}
	for _, p := range strings.Split(m[1], ",") {
		p = strings.ToUpper(strings.TrimSpace(p))
		if i := strings.IndexByte(p, '('); i > 0 { // column privileges
			p = strings.TrimSpace(p[:i])
		}
		privs = append(privs, p)
	}
	return privs, strings.ReplaceAll(m[2], "`", ""), true
}

// roleGrant recognises "GRANT `role` TO ..." (MariaDB) and
// "GRANT `role`@`%` TO ..." (MySQL); it returns the first role.
func roleGrant(g string) (string, bool) {
	if grantRE.MatchString(g) {
		return "", false
	}
	m := roleRE.FindStringSubmatch(g)
	if m == nil {
		return "", false
	}
	first := strings.TrimSpace(strings.Split(m[1], ",")[0])
	return first, first != ""
}
