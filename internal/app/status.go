package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/devmode"
	"github.com/sluicecdc/sluice/internal/pipeline"
)

// StatusReport is what `sluice status` prints: where the checkpoint is,
// where the source is, and the state of what holds the source's log for
// Sluice (the Postgres slot). The JSON field names are part of the
// command's interface (`sluice status --json`).
type StatusReport struct {
	Name       string `json:"name"`
	SourceType string `json:"source_type"`

	// CheckpointFound is false when no checkpoint is stored for the name
	// (the next run starts from scratch).
	CheckpointFound bool `json:"checkpoint_found"`
	// CheckpointPosition is the checkpointed source position, as stored:
	// {"lsn": "0/16B3748"} for Postgres.
	CheckpointPosition *checkpoint.Position `json:"checkpoint_position"`
	// CheckpointTime is when the checkpoint was written (RFC 3339).
	CheckpointTime string `json:"checkpoint_time,omitempty"`
	// CheckpointAgeSeconds is how long ago that was; null without a
	// checkpoint. A running, healthy instance keeps it near
	// checkpoint.interval even when idle.
	CheckpointAgeSeconds *float64 `json:"checkpoint_age_seconds"`
	// SnapshotDone is false only for a checkpoint written by an older
	// release during its one-transaction initial snapshot: the next run
	// takes the snapshot again.
	SnapshotDone bool `json:"snapshot_done"`
	// Snapshots are the table snapshots under way (read in chunks while
	// streaming), with the rows delivered and the estimate; the running
	// instance logs their rate and ETA, and exports them on /metrics.
	Snapshots []SnapshotStatus `json:"snapshots,omitempty"`
	// InsideTransaction is set when the checkpoint falls inside a source
	// transaction too long for one Kafka transaction: the next run reads
	// it again from CheckpointPosition and skips its delivered changes.
	InsideTransaction *checkpoint.TxnProgress `json:"inside_transaction,omitempty"`
	// CheckpointServerID is the source server the checkpoint belongs to.
	CheckpointServerID string `json:"checkpoint_server_id,omitempty"`

	// SourceServerID is the server source.dsn reaches now (Postgres: the
	// system identifier), when the role may read it.
	SourceServerID string `json:"source_server_id,omitempty"`
	// SourcePosition is the source's current position: {"lsn": ...} from
	// pg_current_wal_lsn().
	SourcePosition *checkpoint.Position `json:"source_position"`
	// LagBytes is how far the checkpoint is behind the source's current
	// position, in bytes of WAL; null when either is unknown. The WAL
	// includes other databases' changes and heartbeats, so an idle,
	// caught-up instance shows a small positive lag.
	LagBytes *int64 `json:"lag_bytes"`

	// Slot is the Postgres replication slot; null for other sources.
	Slot *SlotReport `json:"slot,omitempty"`
	// Binlog is the MySQL/MariaDB binary log (status_mysql.go); null for
	// other sources.
	Binlog *BinlogReport `json:"binlog,omitempty"`

	// Errors lists what could not be read; the fields it concerns are
	// null. `sluice status` exits 1 when there is any.
	Errors []string `json:"errors,omitempty"`
}

// SlotReport is the state of the Postgres replication slot.
type SlotReport struct {
	Name              string `json:"name"`
	Exists            bool   `json:"exists"`
	Active            bool   `json:"active"`
	ActivePID         int    `json:"active_pid,omitempty"`
	ConfirmedFlushLSN string `json:"confirmed_flush_lsn,omitempty"`
	RestartLSN        string `json:"restart_lsn,omitempty"`
	// WALStatus: reserved, extended, unreserved or lost (PostgreSQL 13+).
	WALStatus string `json:"wal_status,omitempty"`
	// RetainedWALBytes is the WAL the slot keeps on the server's disk:
	// pg_current_wal_lsn() - restart_lsn.
	RetainedWALBytes int64 `json:"retained_wal_bytes"`
	// SafeWALSizeBytes is how much more WAL may be written before the
	// slot is invalidated; null when max_slot_wal_keep_size is unlimited.
	SafeWALSizeBytes *int64 `json:"safe_wal_size_bytes"`
}

// SourceStatuser fills the source's part of a StatusReport. A source type
// registers itself in sourceStatusers from its own file, e.g.
//
//	func init() { sourceStatusers[config.SourceMySQL] = mysqlStatus{} }
//
// Problems are appended to st.Errors; the rest of the report still
// prints.
type SourceStatuser interface {
	SourceStatus(ctx context.Context, cfg *config.Config, st *StatusReport)
}

var sourceStatusers = map[string]SourceStatuser{
	config.SourcePostgres: postgresStatus{},
}

// Status reads the checkpoint (read_committed, like `sluice run`) and the
// source's current state. It changes nothing. With no brokers configured
// it reads the embedded development broker a running `sluice run` serves.
func Status(ctx context.Context, cfg *config.Config) *StatusReport {
	st := &StatusReport{Name: cfg.Name, SourceType: cfg.Source.Type}
	cp, err := statusCheckpoint(ctx, cfg)
	if err != nil {
		st.addErr(fmt.Errorf("checkpoint: %w", err))
	} else if cp != nil {
		st.CheckpointFound = true
		pos := cp.Position
		st.CheckpointPosition = &pos
		st.SnapshotDone = cp.SnapshotDone
		st.InsideTransaction = cp.Txn
		if cp.Snapshot != nil {
			for _, t := range cp.Snapshot.Tables {
				ss := SnapshotStatus{Table: t.Namespace + "." + t.Name, Rows: t.Rows,
					Estimate: t.Total, Initial: t.Initial, LastKey: t.LastKey, KeyRanges: len(t.Ranges)}
				for _, r := range t.Ranges {
					if r.Done {
						ss.KeyRangesDone++
					}
				}
				st.Snapshots = append(st.Snapshots, ss)
			}
		}
		st.CheckpointServerID = cp.ServerID
		if cp.TsMs > 0 {
			t := time.UnixMilli(cp.TsMs)
			st.CheckpointTime = t.UTC().Format(time.RFC3339Nano)
			age := time.Since(t).Seconds()
			st.CheckpointAgeSeconds = &age
		}
	}
	if s, ok := sourceStatusers[cfg.Source.Type]; ok {
		s.SourceStatus(ctx, cfg, st)
	} else {
		st.addErr(fmt.Errorf("source: %s status not in this build", cfg.Source.Type))
	}
	return st
}

func (st *StatusReport) addErr(err error) { st.Errors = append(st.Errors, err.Error()) }

func statusCheckpoint(ctx context.Context, cfg *config.Config) (*checkpoint.Checkpoint, error) {
	c := *cfg
	if len(c.Kafka.Brokers) == 0 {
		c.Kafka.Brokers = []string{"127.0.0.1:" + strconv.Itoa(devmode.BrokerPort)}
	}
	opts, err := kafkaClientOpts(&c)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	if _, err := kadm.NewClient(cl).BrokerMetadata(cctx); err != nil {
		return nil, explain(&c, fmt.Errorf("kafka brokers %s: %w", strings.Join(c.Kafka.Brokers, ","), err))
	}
	// checkpoint.Load waits for a missing topic to appear; status must
	// not. A checkpoint under the topic's former name counts until the
	// next run carries it over.
	for _, topic := range []string{pipeline.OffsetsTopic(cfg.Name), pipeline.LegacyOffsetsTopic(cfg.Name)} {
		exists, err := topicExists(cctx, cl, topic)
		if err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 2*CheckTimeout)
		cp, err := checkpoint.Load(lctx, opts, topic, cfg.Name)
		cancel()
		if cp != nil || err != nil {
			return cp, err
		}
	}
	return nil, nil
}

type postgresStatus struct{}

func (postgresStatus) SourceStatus(ctx context.Context, cfg *config.Config, st *StatusReport) {
	pgcfg, err := postgresConfig(cfg)
	if err != nil {
		st.addErr(err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	conn, err := pgcapture.Connect(cctx, pgcfg)
	if err != nil {
		st.addErr(err)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Best effort: roles without EXECUTE on pg_control_system() get no
	// server id, which is not worth an error.
	st.SourceServerID, _ = pgcapture.SystemIdentifier(cctx, conn)
	current, err := pgcapture.CurrentLSN(cctx, conn)
	if err != nil {
		st.addErr(err)
	} else {
		st.SourcePosition = &checkpoint.Position{LSN: current}
		if st.CheckpointPosition != nil {
			// The checkpoint can only be ahead on a different server
			// (CheckpointServerID tells); report no lag rather than a
			// negative one.
			lag := max(int64(current)-int64(st.CheckpointPosition.LSN), 0)
			st.LagBytes = &lag
		}
	}
	var version int
	var v string
	if err := conn.QueryRow(cctx, "SHOW server_version_num").Scan(&v); err == nil {
		version, _ = strconv.Atoi(v)
	}
	st.Slot = &SlotReport{Name: cfg.Source.Postgres.Slot}
	slot, err := pgcapture.ReadSlot(cctx, conn, cfg.Source.Postgres.Slot, version)
	if err != nil {
		st.addErr(err)
		return
	}
	if slot == nil {
		return
	}
	st.Slot.Exists = true
	st.Slot.Active = slot.Active
	st.Slot.ActivePID = slot.ActivePID
	st.Slot.ConfirmedFlushLSN = slot.ConfirmedFlushLSN.String()
	st.Slot.RestartLSN = slot.RestartLSN.String()
	st.Slot.WALStatus = slot.WALStatus
	st.Slot.RetainedWALBytes = slot.RetainedWAL
	st.Slot.SafeWALSizeBytes = slot.SafeWALSize
}

// WriteJSON writes the report as one indented JSON object.
func (st *StatusReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// WriteText writes the report as a two-column table for people.
func (st *StatusReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { _, _ = fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("name", st.Name)
	row("source", st.SourceType)
	switch {
	case st.CheckpointFound:
		row("checkpoint", st.CheckpointPosition.String())
		if tp := st.InsideTransaction; tp != nil {
			row("inside transaction", fmt.Sprintf("%s: %d changes delivered (a transaction too long for one Kafka transaction)", tp.ID, tp.Events))
		}
		if st.CheckpointAgeSeconds != nil {
			row("checkpoint age", fmt.Sprintf("%.1fs (written %s)", *st.CheckpointAgeSeconds, st.CheckpointTime))
		}
		switch {
		case !st.SnapshotDone:
			row("snapshot", "not complete: the next run takes it again")
		case len(st.Snapshots) == 0:
			row("snapshot", "done")
		default:
			for _, sn := range st.Snapshots {
				row("snapshot "+sn.Table, sn.String())
			}
		}
	case st.CheckpointPosition == nil && len(st.Errors) == 0:
		row("checkpoint", "none stored: the next run starts from scratch")
	default:
		row("checkpoint", "unknown")
	}
	if st.SourcePosition != nil {
		row("source position", st.SourcePosition.String())
	} else {
		row("source position", "unknown")
	}
	if st.LagBytes != nil {
		row("lag", humanBytes(*st.LagBytes))
	} else {
		row("lag", "unknown")
	}
	if st.CheckpointServerID != "" && st.SourceServerID != "" && st.CheckpointServerID != st.SourceServerID {
		row("server identity", fmt.Sprintf("MISMATCH: checkpoint from %s, source.dsn reaches %s", st.CheckpointServerID, st.SourceServerID))
	}
	if s := st.Slot; s != nil {
		if !s.Exists {
			row("slot "+s.Name, "does not exist")
		} else {
			active := "no"
			if s.Active {
				active = fmt.Sprintf("yes (pid %d)", s.ActivePID)
			}
			row("slot "+s.Name, "")
			row("  active", active)
			row("  confirmed_flush_lsn", s.ConfirmedFlushLSN)
			row("  restart_lsn", s.RestartLSN)
			if s.WALStatus != "" {
				row("  wal_status", s.WALStatus)
			}
			row("  retained WAL", humanBytes(s.RetainedWALBytes))
			if s.SafeWALSizeBytes != nil {
				row("  safe_wal_size", humanBytes(*s.SafeWALSizeBytes))
			}
		}
	}
	if st.Binlog != nil {
		st.Binlog.writeText(row)
	}
	for _, e := range st.Errors {
		row("error", e)
	}
	return tw.Flush()
}

// Err returns an error when any part of the report could not be read.
func (st *StatusReport) Err() error {
	if len(st.Errors) == 0 {
		return nil
	}
	return errors.New(strings.Join(st.Errors, "; "))
}

// SnapshotStatus is one table's snapshot under way, as the checkpoint
// records it.
type SnapshotStatus struct {
	Table    string   `json:"table"`
	Rows     int64    `json:"rows"`
	Estimate int64    `json:"estimate"`
	Initial  bool     `json:"initial"`
	LastKey  []string `json:"last_key,omitempty"`
	// KeyRanges is how many key ranges the table is read in, in
	// parallel (0: one, resuming after LastKey); KeyRangesDone how many
	// of them are done.
	KeyRanges     int `json:"key_ranges,omitempty"`
	KeyRangesDone int `json:"key_ranges_done,omitempty"`
}

func (s SnapshotStatus) String() string {
	out := fmt.Sprintf("%d rows delivered", s.Rows)
	if s.Estimate > 0 {
		out += fmt.Sprintf(" of about %d (%.0f%%)", s.Estimate, 100*float64(s.Rows)/float64(max(s.Estimate, s.Rows)))
	}
	if len(s.LastKey) > 0 {
		out += ", resumes after key (" + strings.Join(s.LastKey, ", ") + ")"
	}
	if s.KeyRanges > 0 {
		out += fmt.Sprintf(", in %d key ranges read in parallel (%d done)", s.KeyRanges, s.KeyRangesDone)
	}
	return out
}
