package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/checkpoint"
)

// FailoverSlotsVersion is the first server_version_num with failover
// slots: a logical slot created with FAILOVER is synchronized to physical
// standbys that set sync_replication_slots = on, so that the standby has it
// when promoted (docs/operations.md, Failover).
const FailoverSlotsVersion = 170000

// serverVersion returns server_version_num.
func serverVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var v int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: reading server_version_num: %w", err)
	}
	return v, nil
}

// createSlot creates the pgoutput slot. From PostgreSQL 17 a permanent slot
// is created with FAILOVER, in the option-list syntax (PostgreSQL 15+);
// snapshotAction is EXPORT_SNAPSHOT or NOEXPORT_SNAPSHOT.
func (s *Source) createSlot(ctx context.Context, temporary bool, snapshotAction string) (pglogrepl.CreateReplicationSlotResult, error) {
	if temporary || s.version < FailoverSlotsVersion {
		return pglogrepl.CreateReplicationSlot(ctx, s.repl, s.cfg.Slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
			Temporary: temporary, SnapshotAction: snapshotAction, Mode: pglogrepl.LogicalReplication,
		})
	}
	snapshot := "nothing"
	if snapshotAction == "EXPORT_SNAPSHOT" {
		snapshot = "export"
	}
	cmd := fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT '%s', FAILOVER true)",
		pgx.Identifier{s.cfg.Slot}.Sanitize(), snapshot)
	return pglogrepl.ParseCreateReplicationSlot(s.repl.Exec(ctx, cmd))
}

// ensureFailover turns on FAILOVER for an existing slot created without it
// (by an older Sluice, or before an upgrade to PostgreSQL 17), so that
// standbys synchronize it from now on.
func (s *Source) ensureFailover(ctx context.Context, slot *slotInfo) error {
	if s.version < FailoverSlotsVersion || slot == nil || slot.failover {
		return nil
	}
	cmd := fmt.Sprintf("ALTER_REPLICATION_SLOT %s (FAILOVER true)", pgx.Identifier{s.cfg.Slot}.Sanitize())
	if _, err := s.repl.Exec(ctx, cmd).ReadAll(); err != nil {
		return fmt.Errorf("postgres: %s: %w", cmd, err)
	}
	slot.failover = true
	s.log.Info("replication slot set to failover: standbys with sync_replication_slots = on keep a copy", "slot", s.cfg.Slot)
	return nil
}

// missingSlotHint is added to the error for a slot that is gone although
// the checkpoint needs it: after a failover, the promoted standby had no
// synchronized copy.
func missingSlotHint(version int) string {
	if version >= FailoverSlotsVersion {
		return "; if the server failed over, the promoted standby had no synchronized copy of the slot (it needs sync_replication_slots = on, hot_standby_feedback = on, primary_slot_name, and a dbname in primary_conninfo; see docs/operations.md, Failover)"
	}
	return "; if the server failed over: before PostgreSQL 17 standbys have no copy of logical slots"
}

// behindCheckpoint refuses a server whose WAL ends before the checkpoint:
// it lacks transactions whose changes Sluice already sent, as a standby
// promoted before it had received them does.
func (s *Source) behindCheckpoint(ctx context.Context, cp checkpoint.LSN) error {
	var l string
	if err := s.sql.QueryRow(ctx, "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text").Scan(&l); err != nil {
		return fmt.Errorf("postgres: reading the WAL position: %w", err)
	}
	end, err := checkpoint.ParseLSN(l)
	if err != nil || end >= cp {
		return err
	}
	return &SetupError{What: "replication slot " + s.cfg.Slot,
		Err: fmt.Errorf("the server's WAL ends at %s, before the checkpoint %s: it lacks changes Sluice already sent (a standby promoted before it had received them?)", end, cp),
		Fix: "on the primary set synchronized_standby_slots to the standbys' physical slots, so that Sluice never gets ahead of a standby (docs/operations.md, Failover); " +
			"to go on from this server, start over with a new snapshot (a new name, or delete this name's record from the offsets topic)"}
}
