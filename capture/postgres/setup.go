package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// Config configures a Postgres source.
type Config struct {
	DSN         string
	Slot        string
	Publication string
	Filter      Filter
	// ExcludeColumns holds the columns left out of events, by table
	// ("<schema>.<table>") and column name: Open does not refuse a table
	// for them (toast.go).
	ExcludeColumns map[string]map[string]bool
	// TLS, when not nil, is used for every connection (see WithTLS); it
	// overrides the DSN's sslmode and related parameters.
	TLS *tls.Config
	// HeartbeatInterval is how often, while idle, the source writes a
	// logical decoding message and acknowledges the server's WAL end, so
	// that idle captured tables do not hold WAL back. 0 disables both.
	HeartbeatInterval time.Duration
	// StatusInterval is how often the flushed position is reported.
	StatusInterval time.Duration
	// Messages are the logical decoding message prefixes delivered as row
	// changes (the outbox transform's messages). Nil: none.
	Messages Messages
	Logger   *slog.Logger
	// ReadCheckpoint, when set and Open is given no checkpoint, reads the
	// stored one: Open calls it once it has checked the server and before
	// it changes anything there (the publication), so that the caller can
	// get Kafka ready meanwhile. The checkpoint serves to refuse a server
	// that is not the one it was taken from.
	ReadCheckpoint func(ctx context.Context) (*checkpoint.Checkpoint, error)
	// ReloadCheckpoint, when set, reads the stored checkpoint again. Open
	// calls it once the slot is known to be free, and decides from what it
	// returns (see Plan.Checkpoint).
	ReloadCheckpoint func(ctx context.Context) (*checkpoint.Checkpoint, error)
}

// SnapshotMode values.
const (
	SnapshotInitial     = "initial"
	SnapshotNever       = "never"
	SnapshotInitialOnly = "initial_only"
)

// Plan says what the source will do: stream from StartLSN, with the
// initial snapshot of Tables due (Snapshot) or the snapshots of tables
// captured since the last run (Added), both taken by the snapshot engine
// while streaming.
type Plan struct {
	Snapshot bool
	// Bounds are the tables' last keys at the slot's consistent point
	// (with Snapshot): each table's snapshot reads up to its bound.
	Bounds   map[schema.TableID][]string
	Added    []schema.TableID
	StartLSN checkpoint.LSN
	Tables   []TableRef
	SystemID string
	Database string
	// Checkpoint is the checkpoint the plan was made from: the one given
	// to Open, or the one ReloadCheckpoint read once the slot was free.
	Checkpoint *checkpoint.Checkpoint
}

// TableRef names a captured table.
type TableRef = tableRef

// Open connects, checks the prerequisites, makes sure the publication and
// the slot exist, and decides whether a snapshot is due. cp is the stored
// checkpoint (nil when there is none). On success the caller must Close
// the source.
func Open(ctx context.Context, cfg Config, cp *checkpoint.Checkpoint, snapshotMode string) (_ *Source, _ *Plan, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 10 * time.Second
	}
	pgcfg, err := ParseDSN(cfg.DSN, WithTLS(cfg.TLS))
	if err != nil {
		return nil, nil, err
	}
	s := &Source{cfg: cfg, pgcfg: pgcfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.sql, err = Connect(ctx, pgcfg); err != nil {
		return nil, nil, err
	}
	if err = CheckServer(ctx, s.sql); err != nil {
		return nil, nil, err
	}
	if s.version, err = serverVersion(ctx, s.sql); err != nil {
		return nil, nil, err
	}
	s.cat = newCatalog(s.sql)
	if s.repl, err = ConnectReplication(ctx, pgcfg); err != nil {
		return nil, nil, err
	}
	ident, err := pglogrepl.IdentifySystem(ctx, s.repl)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: IDENTIFY_SYSTEM: %w", err)
	}
	plan := &Plan{SystemID: ident.SystemID, Database: ident.DBName}
	var warnings []string
	if plan.Tables, warnings, err = s.cat.listTables(ctx, &cfg.Filter); err != nil {
		return nil, nil, err
	}
	for _, w := range warnings {
		s.log.Warn(w)
	}
	if len(plan.Tables) == 0 {
		return nil, nil, &SetupError{What: "source.tables", Err: errors.New("no table matches"),
			Fix: "check the table names (case-sensitive, <schema>.<table>) and that the user can see them"}
	}
	// Before anything is read: an unchanged TOASTed value with no
	// placeholder would stop the pipeline for good once it is in the slot.
	ids := make([]schema.TableID, len(plan.Tables))
	for i, t := range plan.Tables {
		ids[i] = t.ID
	}
	risks, err := toastRisks(ctx, s.cat, newResolver(s.cat), ids, cfg.ExcludeColumns)
	if err != nil {
		return nil, nil, err
	}
	if len(risks) > 0 {
		return nil, nil, toastError(risks)
	}
	if cp == nil && cfg.ReadCheckpoint != nil {
		if cp, err = cfg.ReadCheckpoint(ctx); err != nil {
			return nil, nil, fmt.Errorf("reading checkpoint: %w", err)
		}
	}
	if err := sameServer(cp, ident.SystemID); err != nil {
		return nil, nil, err
	}
	// Tables newly captured join the publication; the snapshot engine then
	// reads their existing rows while streaming (plan.Added).
	added, err := s.ensurePublication(ctx, plan.Tables)
	if err != nil {
		return nil, nil, err
	}
	if err := s.lockSlot(ctx); err != nil {
		return nil, nil, err
	}
	slot, err := s.slotState(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The slot is free, so no other instance of this name streams from
	// it. One that committed and stopped after cp was read moved the
	// checkpoint (and, stopping gracefully, the slot): decide from the
	// checkpoint as it is now, or its last changes would be produced again
	// (or its slot taken for a gap).
	if cfg.ReloadCheckpoint != nil {
		fresh, err := cfg.ReloadCheckpoint(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("reading checkpoint: %w", err)
		}
		if checkpointMoved(cp, fresh) {
			s.log.Info("the checkpoint moved while starting (another instance of this name committed and stopped); starting from it",
				"position", positionOf(fresh))
		}
		cp = fresh
		if err := sameServer(cp, ident.SystemID); err != nil {
			return nil, nil, err
		}
	}
	plan.Checkpoint = cp
	needSnapshot := snapshotMode != SnapshotNever && (cp == nil || !cp.SnapshotDone)
	switch {
	case needSnapshot:
		if slot != nil {
			// No snapshot completed on this slot, so nothing was ever
			// acknowledged from it: recreating it loses nothing.
			s.log.Info("replication slot exists but no completed snapshot is checkpointed; recreating the slot and taking the snapshot again", "slot", cfg.Slot)
			if err = pglogrepl.DropReplicationSlot(ctx, s.repl, cfg.Slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
				return nil, nil, fmt.Errorf("postgres: dropping slot %s: %w", cfg.Slot, err)
			}
		}
		// The snapshot engine reads the tables in chunks between
		// watermarks while streaming from the slot's consistent point, so
		// nothing holds a transaction open for long; the exported snapshot
		// serves only to read each table's last key as of that point.
		res, err := s.createSlot(ctx, snapshotMode == SnapshotInitialOnly, "EXPORT_SNAPSHOT")
		if err != nil {
			return nil, nil, slotError(cfg.Slot, err)
		}
		lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
		if err != nil {
			return nil, nil, fmt.Errorf("postgres: slot consistent point %q: %w", res.ConsistentPoint, err)
		}
		plan.Snapshot = true
		plan.StartLSN = checkpoint.LSN(lsn)
		if plan.Bounds, err = s.bounds(ctx, res.SnapshotName, plan.Tables); err != nil {
			return nil, nil, err
		}
	case cp != nil:
		if slot == nil {
			return nil, nil, &SetupError{What: "replication slot " + cfg.Slot,
				Err: fmt.Errorf("does not exist, but the checkpoint is at %s: the slot was dropped while Sluice was stopped, so changes after the checkpoint may be gone%s", cp.Position.LSN, missingSlotHint(s.version)),
				Fix: "Sluice will not resume past a gap; to start over with a new snapshot, use a new name (or delete this name's record from the offsets topic)"}
		}
		if slot.walStatus == "lost" {
			return nil, nil, &SetupError{What: "replication slot " + cfg.Slot,
				Err: errors.New("has wal_status 'lost': Postgres removed WAL the slot still needed (max_slot_wal_keep_size)"),
				Fix: "Sluice will not resume past a gap; drop the slot and start over with a new snapshot (new name or cleared checkpoint)"}
		}
		if slot.confirmedFlush > cp.Position.LSN {
			return nil, nil, &SetupError{What: "replication slot " + cfg.Slot,
				Err: fmt.Errorf("confirmed_flush_lsn %s is ahead of the checkpoint %s: another consumer advanced the slot", slot.confirmedFlush, cp.Position.LSN),
				Fix: "make sure only one Sluice (and nothing else) uses this slot; to start over, use a new name"}
		}
		if err := s.behindCheckpoint(ctx, cp.Position.LSN); err != nil {
			return nil, nil, err
		}
		if err := s.ensureFailover(ctx, slot); err != nil {
			return nil, nil, err
		}
		plan.StartLSN = cp.Position.LSN
		if snapshotMode != SnapshotNever {
			plan.Added = newlyCaptured(cp, plan.Tables, added)
		}
	default: // snapshot never, no checkpoint
		if slot == nil {
			res, err := s.createSlot(ctx, false, "NOEXPORT_SNAPSHOT")
			if err != nil {
				return nil, nil, slotError(cfg.Slot, err)
			}
			lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
			if err != nil {
				return nil, nil, err
			}
			plan.StartLSN = checkpoint.LSN(lsn)
		} else {
			if err := s.ensureFailover(ctx, slot); err != nil {
				return nil, nil, err
			}
			plan.StartLSN = slot.confirmedFlush
		}
	}
	s.decoder.init(s.cat, &s.cfg.Filter, ident.DBName, cfg.HeartbeatInterval > 0, plan.StartLSN)
	s.decoder.messages, s.decoder.log = cfg.Messages, cfg.Logger
	s.acked.Store(uint64(plan.StartLSN))
	s.plan = plan
	return s, plan, nil
}

func slotError(slot string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "53400":
			return &SetupError{What: "replication slot " + slot, Err: err, Fix: "raise max_replication_slots (and restart Postgres) or drop unused slots"}
		case "42501":
			return &SetupError{What: "replication slot " + slot, Err: err, Fix: "ALTER ROLE <user> WITH REPLICATION"}
		case "55000":
			return &SetupError{What: "replication slot " + slot, Err: err, Fix: "set wal_level = logical and restart Postgres"}
		}
	}
	return fmt.Errorf("postgres: creating slot %s: %w", slot, err)
}

// slotReleaseWait is how long Open waits for an active slot to be
// released (see slotState).
const slotReleaseWait = 5 * time.Second

type slotInfo struct {
	plugin         string
	confirmedFlush checkpoint.LSN
	walStatus      string
	active         bool
	failover       bool // PostgreSQL 17+: synchronized to standbys
}

func (s *Source) slotState(ctx context.Context) (*slotInfo, error) {
	var si slotInfo
	var flush *string
	var walStatus *string
	var plugin *string
	failover := "false"
	if s.version >= FailoverSlotsVersion {
		failover = "failover"
	}
	q := `SELECT plugin, confirmed_flush_lsn::text, wal_status, active, ` + failover + ` FROM pg_replication_slots WHERE slot_name = $1`
	err := s.sql.QueryRow(ctx, q, s.cfg.Slot).Scan(&plugin, &flush, &walStatus, &si.active, &si.failover)
	// The caller holds the slot's advisory lock, so no running Sluice uses
	// the slot. An active slot is then most likely the walsender of an
	// instance that was just killed, which Postgres ends once it notices
	// the closed connection: give it a few seconds before refusing.
	for wait := time.Now().Add(slotReleaseWait); err == nil && si.active && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		err = s.sql.QueryRow(ctx, q, s.cfg.Slot).Scan(&plugin, &flush, &walStatus, &si.active, &si.failover)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: reading slot %s: %w", s.cfg.Slot, err)
	}
	if plugin != nil {
		si.plugin = *plugin
	}
	if si.plugin != "pgoutput" {
		return nil, &SetupError{What: "replication slot " + s.cfg.Slot, Err: fmt.Errorf("uses plugin %q", si.plugin),
			Fix: "Sluice needs a pgoutput slot; choose another slot name in source.postgres.slot"}
	}
	if walStatus != nil {
		si.walStatus = *walStatus
	}
	if flush != nil {
		lsn, err := checkpoint.ParseLSN(*flush)
		if err != nil {
			return nil, err
		}
		si.confirmedFlush = lsn
	}
	if si.active {
		return nil, &SetupError{What: "replication slot " + s.cfg.Slot, Err: errors.New("is in use by another connection"),
			Fix: "stop the other consumer (another Sluice with the same name?) or choose another slot"}
	}
	return &si, nil
}

// lockSlot takes a session advisory lock named after the slot on the
// source's SQL connection, held until Close. The slot alone does not keep
// a second instance out: Postgres releases a slot between its creation
// and the first START_REPLICATION, which is the whole initial snapshot.
// Server-side TCP keepalives end the session (and the lock) within about
// 25 s of this process vanishing without closing its connection.
func (s *Source) lockSlot(ctx context.Context) error {
	if _, err := s.sql.Exec(ctx, "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"); err != nil {
		return fmt.Errorf("postgres: setting keepalives: %w", err)
	}
	var got bool
	if err := s.sql.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext('sluice'), hashtext($1))", s.cfg.Slot).Scan(&got); err != nil {
		return fmt.Errorf("postgres: advisory lock for slot %s: %w", s.cfg.Slot, err)
	}
	if !got {
		return &SetupError{What: "replication slot " + s.cfg.Slot, Transient: true,
			Err: errors.New("is in use by another connection (another Sluice instance holds its lock, maybe taking the initial snapshot)"),
			Fix: "stop the other consumer (another Sluice with the same name?) or choose another slot"}
	}
	return nil
}

// ensurePublication creates the publication of the captured tables, or
// checks that the existing one publishes every one of them. A table
// missing from an existing publication is added when canAdd (nothing has
// been streamed yet, or snapshots are off); otherwise its changes would
// start now while its existing rows were never read, so Sluice refuses.
func (s *Source) ensurePublication(ctx context.Context, tables []TableRef) ([]schema.TableID, error) {
	var version int
	if err := s.sql.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, fmt.Errorf("postgres: server version: %w", err)
	}
	pub, err := ReadPublication(ctx, s.sql, s.cfg.Publication, version)
	if err != nil {
		return nil, err
	}
	if pub != nil {
		return s.completePublication(ctx, pub, tables)
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize()
	}
	q := "CREATE PUBLICATION " + pgx.Identifier{s.cfg.Publication}.Sanitize() + " FOR TABLE " + strings.Join(names, ", ")
	if _, err := s.sql.Exec(ctx, q); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return nil, &SetupError{What: "publication " + s.cfg.Publication, Err: err,
				Fix: "create it as the tables' owner: " + q + "; or make Sluice's user own the tables"}
		}
		return nil, fmt.Errorf("postgres: %s: %w", q, err)
	}
	// The mark that lets Sluice add captured tables to it later.
	if _, err := s.sql.Exec(ctx, "COMMENT ON PUBLICATION "+pgx.Identifier{s.cfg.Publication}.Sanitize()+" IS '"+
		strings.ReplaceAll(SluiceComment(s.cfg.Publication), "'", "''")+"'"); err != nil {
		return nil, fmt.Errorf("postgres: marking publication %s: %w", s.cfg.Publication, err)
	}
	s.log.Info("created publication", "publication", s.cfg.Publication, "tables", len(tables))
	return nil, nil
}

func (s *Source) completePublication(ctx context.Context, pub *PublicationInfo, tables []TableRef) ([]schema.TableID, error) {
	pubName := pgx.Identifier{s.cfg.Publication}.Sanitize()
	if !pub.Insert || !pub.Update || !pub.Delete {
		return nil, &SetupError{What: "publication " + s.cfg.Publication,
			Err: errors.New("it does not publish every insert, update and delete (its publish option leaves some out), so changes would be lost"),
			Fix: "ALTER PUBLICATION " + pubName + " SET (publish = 'insert, update, delete, truncate')"}
	}
	var missing, ids, filtered []string
	var added []schema.TableID
	for _, t := range tables {
		if pub.Filtered[t.ID] {
			filtered = append(filtered, pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize())
		}
		if !pub.Publishes(t.ID) {
			missing = append(missing, pgx.Identifier{t.ID.Namespace, t.ID.Name}.Sanitize())
			ids = append(ids, t.ID.String())
			added = append(added, t.ID)
		}
	}
	if len(filtered) > 0 {
		return nil, &SetupError{What: "publication " + s.cfg.Publication,
			Err: fmt.Errorf("it publishes %s with a row filter or a column list, so changes outside it would never be sent", strings.Join(filtered, ", ")),
			Fix: "ALTER PUBLICATION " + pubName + " SET TABLE with those tables unfiltered, or capture them under another publication"}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	q := "ALTER PUBLICATION " + pubName + " ADD TABLE " + strings.Join(missing, ", ")
	if pub.Comment != SluiceComment(s.cfg.Publication) {
		// Not created by Sluice: it may serve someone else (a logical
		// subscriber), so Sluice does not change it.
		return nil, &SetupError{What: "publication " + s.cfg.Publication,
			Err: fmt.Errorf("it does not publish %s, which source.tables captures, and Sluice did not create it, so it does not change it", strings.Join(ids, ", ")),
			Fix: "as its owner, run " + q}
	}
	if _, err := s.sql.Exec(ctx, q); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return nil, &SetupError{What: "publication " + s.cfg.Publication, Err: err,
				Fix: "add them as the tables' (and the publication's) owner: " + q}
		}
		return nil, fmt.Errorf("postgres: %s: %w", q, err)
	}
	s.log.Info("added tables to the publication", "publication", s.cfg.Publication, "tables", strings.Join(ids, ", "))
	return added, nil
}

// newlyCaptured returns the planned tables whose snapshot is due because
// they were not captured when cp was written: those the checkpoint does
// not list (checkpoints list their tables since snapshots are chunked),
// or, for an older checkpoint, those just added to the publication. A
// table whose snapshot is under way is resumed from cp, not started anew.
func newlyCaptured(cp *checkpoint.Checkpoint, tables []TableRef, added []schema.TableID) []schema.TableID {
	under := map[schema.TableID]bool{}
	if cp.Snapshot != nil {
		for _, t := range cp.Snapshot.Tables {
			under[schema.TableID{Namespace: t.Namespace, Name: t.Name}] = true
		}
	}
	var out []schema.TableID
	if cp.Tables == nil {
		for _, id := range added {
			if !under[id] {
				out = append(out, id)
			}
		}
		return out
	}
	had := map[string]bool{}
	for _, t := range cp.Tables {
		had[t] = true
	}
	for _, t := range tables {
		if !had[t.ID.String()] && !under[t.ID] {
			out = append(out, t.ID)
		}
	}
	return out
}

// Describe reads the definitions of the planned tables through conn (a
// connection that imported the snapshot, so the catalog is read as of the
// snapshot).
func Describe(ctx context.Context, conn *pgx.Conn, refs []TableRef) ([]*schema.Table, error) {
	cat := newCatalog(conn)
	res := newResolver(cat)
	out := make([]*schema.Table, len(refs))
	for i, r := range refs {
		t, err := cat.describe(ctx, res, r)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// PgConfig returns the parsed connection configuration.
func (s *Source) PgConfig() *pgconn.Config { return s.pgcfg }

// sameServer refuses a checkpoint taken from another server than the one
// source.dsn reaches (system identifier id).
func sameServer(cp *checkpoint.Checkpoint, id string) error {
	if cp == nil || cp.ServerID == "" || cp.ServerID == id {
		return nil
	}
	return &SetupError{What: "postgres server identity",
		Err: fmt.Errorf("the checkpoint belongs to server %s but source.dsn reaches server %s", cp.ServerID, id),
		Fix: "point source.dsn at the original server, or give this source a new name (a new name starts over with a snapshot)"}
}

// checkpointMoved reports whether the stored checkpoint changed from a to b.
func checkpointMoved(a, b *checkpoint.Checkpoint) bool {
	if a == nil || b == nil {
		return a != b
	}
	return a.Position.String() != b.Position.String() || a.SnapshotDone != b.SnapshotDone
}

func positionOf(cp *checkpoint.Checkpoint) string {
	if cp == nil {
		return "none"
	}
	return cp.Position.String()
}
