package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// This file reads, without changing anything, what `sluice check` and
// `sluice status` report about a server: settings, privileges, tables,
// the publication and the slot. Judging the facts (PASS, FAIL, the fix)
// is the caller's business.

// ServerInfo holds the server settings and role attributes logical
// replication depends on.
type ServerInfo struct {
	Version              int    // server_version_num, e.g. 150004
	VersionString        string // server_version, e.g. "15.4"
	WALLevel             string
	MaxReplicationSlots  int
	UsedReplicationSlots int // slots of every kind, on every database
	MaxWALSenders        int
	UsedWALSenders       int // walsender processes now running
	// MaxSlotWALKeepSize is max_slot_wal_keep_size as SHOW prints it
	// ("-1" is unlimited); empty before PostgreSQL 13.
	MaxSlotWALKeepSize string
	User               string
	Database           string
	Superuser          bool
	Replication        bool // the REPLICATION attribute (superusers have it implicitly)
	CreateOnDatabase   bool // CREATE on the database, needed to create a publication
	// EmitMessage reports EXECUTE on pg_logical_emit_message(boolean,
	// text, text), which heartbeats use.
	EmitMessage bool
}

// EmitMessageFunction is the signature of pg_logical_emit_message, which
// heartbeats and watermarks call, for server_version_num version: PostgreSQL
// 18 added a fourth parameter (flush, with a default).
func EmitMessageFunction(version int) string {
	if version >= 180000 {
		return "pg_logical_emit_message(boolean, text, text, boolean)"
	}
	return "pg_logical_emit_message(boolean, text, text)"
}

// ReadServerInfo reads ServerInfo through conn.
func ReadServerInfo(ctx context.Context, conn *pgx.Conn) (*ServerInfo, error) {
	si := &ServerInfo{}
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&version); err != nil {
		return nil, fmt.Errorf("postgres: reading server_version_num: %w", err)
	}
	si.Version, _ = strconv.Atoi(version)
	show := []struct {
		name string
		dst  *string
	}{{"server_version", &si.VersionString}, {"wal_level", &si.WALLevel}}
	if si.Version >= 130000 {
		show = append(show, struct {
			name string
			dst  *string
		}{"max_slot_wal_keep_size", &si.MaxSlotWALKeepSize})
	}
	for _, s := range show {
		if err := conn.QueryRow(ctx, "SHOW "+s.name).Scan(s.dst); err != nil {
			return nil, fmt.Errorf("postgres: reading %s: %w", s.name, err)
		}
	}
	// pg_stat_replication has a row per walsender for every role (only
	// its details are hidden without pg_read_all_stats), whereas
	// pg_stat_activity hides other roles' backend_type.
	err := conn.QueryRow(ctx, `
SELECT current_setting('max_replication_slots')::int,
       (SELECT count(*) FROM pg_replication_slots)::int,
       current_setting('max_wal_senders')::int,
       (SELECT count(*) FROM pg_stat_replication)::int,
       current_user::text, current_database()::text,
       r.rolsuper, r.rolreplication OR r.rolsuper,
       has_database_privilege(current_database(), 'CREATE'),
       has_function_privilege('`+EmitMessageFunction(si.Version)+`', 'EXECUTE')
FROM pg_roles r WHERE r.rolname = current_user`).Scan(
		&si.MaxReplicationSlots, &si.UsedReplicationSlots, &si.MaxWALSenders, &si.UsedWALSenders,
		&si.User, &si.Database, &si.Superuser, &si.Replication, &si.CreateOnDatabase, &si.EmitMessage)
	if err != nil {
		return nil, fmt.Errorf("postgres: reading settings and role attributes: %w", err)
	}
	return si, nil
}

// TableCheck is what the current role may do with one captured table.
type TableCheck struct {
	ID schema.TableID
	// SchemaUsage: USAGE on the table's schema, without which no
	// privilege on the table helps.
	SchemaUsage bool
	// Select: SELECT on the table, or on every one of its columns (the
	// snapshot reads them all).
	Select bool
	// Owner: the role owns the table (or is a member of its owner), as
	// adding it to a publication requires.
	Owner      bool
	OwnerName  string
	PrimaryKey bool
	// ReplicaIdentity is pg_class.relreplident: d (default: the primary
	// key), n (nothing), f (full), i (an index).
	ReplicaIdentity string
}

// CheckTables returns every user table (sorted by name; the caller applies
// the Filter) with the current role's privileges on it.
func CheckTables(ctx context.Context, conn *pgx.Conn) ([]TableCheck, error) {
	// The same set of relations as catalog.listTables.
	rows, err := conn.Query(ctx, `
SELECT n.nspname, c.relname,
       has_schema_privilege(n.oid, 'USAGE'),
       has_table_privilege(c.oid, 'SELECT') OR NOT EXISTS (
           SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             AND NOT has_column_privilege(c.oid, a.attnum, 'SELECT')),
       pg_has_role(c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       c.relreplident::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing tables: %w", err)
	}
	var out []TableCheck
	for rows.Next() {
		var t TableCheck
		if err := rows.Scan(&t.ID.Namespace, &t.ID.Name, &t.SchemaUsage, &t.Select, &t.Owner, &t.OwnerName, &t.PrimaryKey, &t.ReplicaIdentity); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: listing tables: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing tables: %w", err)
	}
	return out, nil
}

// PublicationInfo describes an existing publication.
type PublicationInfo struct {
	Owner      string
	AllTables  bool
	Insert     bool
	Update     bool
	Delete     bool
	Truncate   bool
	TableNames map[schema.TableID]bool // tables it publishes directly, through FOR ALL TABLES or through its schema
	// Filtered are the tables it publishes with a row filter or a column
	// list (Postgres 15+): changes outside them are never sent.
	Filtered map[schema.TableID]bool
	// Comment is the publication's comment; Sluice marks the publications
	// it creates (SluiceComment).
	Comment string
}

// SluiceComment is the comment Sluice puts on a publication it creates:
// only such a publication does it ever alter.
func SluiceComment(publication string) string { return "created by sluice for " + publication }

// ReadPublication returns the publication called name, or nil when there
// is none. version is server_version_num.
func ReadPublication(ctx context.Context, conn *pgx.Conn, name string, version int) (*PublicationInfo, error) {
	pi := &PublicationInfo{TableNames: map[schema.TableID]bool{}, Filtered: map[schema.TableID]bool{}}
	var oid uint32
	err := conn.QueryRow(ctx, `SELECT oid, pg_get_userbyid(pubowner)::text, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate,
coalesce(obj_description(oid, 'pg_publication'), '')
FROM pg_publication WHERE pubname = $1`, name).Scan(&oid, &pi.Owner, &pi.AllTables, &pi.Insert, &pi.Update, &pi.Delete, &pi.Truncate, &pi.Comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: reading publication %s: %w", name, err)
	}
	// pg_publication_tables would list the partitions of a partitioned
	// table instead of the table Sluice captures, so read the catalog.
	q := `SELECT n.nspname, c.relname FROM pg_publication_rel pr
JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE pr.prpubid = $1`
	if version >= 150000 {
		q += ` UNION SELECT n.nspname, c.relname FROM pg_publication_namespace pn
JOIN pg_class c ON c.relnamespace = pn.pnnspid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE pn.pnpubid = $1 AND c.relkind IN ('r', 'p')`
	}
	rows, err := conn.Query(ctx, q, oid)
	if err != nil {
		return nil, fmt.Errorf("postgres: tables of publication %s: %w", name, err)
	}
	for rows.Next() {
		var id schema.TableID
		if err := rows.Scan(&id.Namespace, &id.Name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: tables of publication %s: %w", name, err)
		}
		pi.TableNames[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: tables of publication %s: %w", name, err)
	}
	if version >= 150000 {
		rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_publication_rel pr
JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE pr.prpubid = $1 AND (pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL)`, oid)
		if err != nil {
			return nil, fmt.Errorf("postgres: filters of publication %s: %w", name, err)
		}
		for rows.Next() {
			var id schema.TableID
			if err := rows.Scan(&id.Namespace, &id.Name); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: filters of publication %s: %w", name, err)
			}
			pi.Filtered[id] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: filters of publication %s: %w", name, err)
		}
	}
	return pi, nil
}

// Publishes reports whether the publication publishes the table's changes.
func (p *PublicationInfo) Publishes(id schema.TableID) bool { return p.AllTables || p.TableNames[id] }

// SlotStatus is the state of a replication slot as pg_replication_slots
// shows it, with the server's current WAL position.
type SlotStatus struct {
	Name      string
	Plugin    string
	SlotType  string
	Database  string
	Temporary bool
	Active    bool
	ActivePID int // 0 when inactive
	// ActiveApplication is the application_name of the connection using
	// the slot ("sluice" for Sluice), when active.
	ActiveApplication string
	RestartLSN        checkpoint.LSN
	ConfirmedFlushLSN checkpoint.LSN
	// WALStatus is reserved, extended, unreserved or lost (PostgreSQL 13+;
	// empty before).
	WALStatus string
	// SafeWALSize is how many more bytes of WAL can be written before the
	// slot is in danger of losing WAL; nil when unlimited
	// (max_slot_wal_keep_size = -1) or before PostgreSQL 13.
	SafeWALSize *int64
	// RetainedWAL is how many bytes of WAL the slot holds back:
	// CurrentLSN - RestartLSN.
	RetainedWAL int64
	CurrentLSN  checkpoint.LSN
	// Failover reports a slot synchronized to standbys with
	// sync_replication_slots = on (PostgreSQL 17+; false before). Synced
	// reports a copy synchronized from a primary (a standby's, or a
	// promoted standby's).
	Failover, Synced bool
}

// ReadSlot returns the slot called name, or nil when there is none.
// version is server_version_num.
func ReadSlot(ctx context.Context, conn *pgx.Conn, name string, version int) (*SlotStatus, error) {
	walCols := "NULL::text, NULL::bigint"
	if version >= 130000 {
		walCols = "s.wal_status, s.safe_wal_size"
	}
	failoverCols := "false, false"
	if version >= FailoverSlotsVersion {
		failoverCols = "s.failover, s.synced"
	}
	var (
		plugin, slotType, db, restart, flush, walStatus, app *string
		pid                                                  *int32
		safe                                                 *int64
		current                                              string
		retained                                             *int64
	)
	st := &SlotStatus{Name: name}
	err := conn.QueryRow(ctx, `
SELECT s.plugin::text, s.slot_type, s.database::text, s.temporary, s.active, s.active_pid,
       (SELECT a.application_name FROM pg_stat_activity a WHERE a.pid = s.active_pid),
       s.restart_lsn::text, s.confirmed_flush_lsn::text, `+walCols+`,
       pg_current_wal_lsn()::text, pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, `+failoverCols+`
FROM pg_replication_slots s WHERE s.slot_name = $1`, name).Scan(
		&plugin, &slotType, &db, &st.Temporary, &st.Active, &pid, &app, &restart, &flush, &walStatus, &safe, &current, &retained, &st.Failover, &st.Synced)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: reading slot %s: %w", name, err)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	st.Plugin, st.SlotType, st.Database, st.WALStatus, st.ActiveApplication = str(plugin), str(slotType), str(db), str(walStatus), str(app)
	if pid != nil {
		st.ActivePID = int(*pid)
	}
	st.SafeWALSize = safe
	if retained != nil {
		st.RetainedWAL = *retained
	}
	for _, l := range []struct {
		s   string
		dst *checkpoint.LSN
	}{{str(restart), &st.RestartLSN}, {str(flush), &st.ConfirmedFlushLSN}, {current, &st.CurrentLSN}} {
		if l.s == "" {
			continue
		}
		if *l.dst, err = checkpoint.ParseLSN(l.s); err != nil {
			return nil, fmt.Errorf("postgres: slot %s: %w", name, err)
		}
	}
	return st, nil
}

// CurrentLSN returns pg_current_wal_lsn(): the server's current WAL write
// position.
func CurrentLSN(ctx context.Context, conn *pgx.Conn) (checkpoint.LSN, error) {
	var s string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		return 0, fmt.Errorf("postgres: pg_current_wal_lsn(): %w", err)
	}
	return checkpoint.ParseLSN(s)
}

// SystemIdentifier returns the server's system identifier, the identity a
// checkpoint records, from pg_control_system(). Roles without EXECUTE on
// it get an error; IdentifySystem needs a replication connection instead.
func SystemIdentifier(ctx context.Context, conn *pgx.Conn) (string, error) {
	var id string
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&id); err != nil {
		return "", fmt.Errorf("postgres: pg_control_system(): %w", err)
	}
	return id, nil
}

// IdentifySystem opens a replication connection, as `sluice run` does, and
// returns the server's system identifier. It fails the way `sluice run`
// would when the role or pg_hba.conf does not allow replication
// connections (the error is a *SetupError naming the fix).
func IdentifySystem(ctx context.Context, cfg *pgconn.Config) (string, error) {
	repl, err := ConnectReplication(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer repl.Close(context.WithoutCancel(ctx))
	ident, err := pglogrepl.IdentifySystem(ctx, repl)
	if err != nil {
		return "", fmt.Errorf("postgres: IDENTIFY_SYSTEM: %w", err)
	}
	return ident.SystemID, nil
}
