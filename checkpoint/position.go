// Package checkpoint owns source positions, their durable storage in the
// compacted _sluice.<name>.offsets topic, and the tracking of which
// positions are safe to checkpoint.
package checkpoint

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a Postgres WAL position.
type LSN uint64

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// ParseLSN parses the "XXX/XXX" form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("lsn %q: want XXX/XXX", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("lsn %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("lsn %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// MarshalText implements encoding.TextMarshaler.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	*l = v
	return err
}

// Position is a place in a source's change stream where a restart can
// resume: always a transaction boundary. Exactly one of the source parts is
// set.
type Position struct {
	// Postgres: the end LSN of the last transaction fully delivered. The
	// stream resumes with transactions that commit after it.
	LSN LSN `json:"lsn,omitempty"`

	// MySQL: the binlog position after the last fully delivered
	// transaction, and the GTID set executed up to it.
	File    string `json:"file,omitempty"`
	Pos     uint32 `json:"pos,omitempty"`
	GTIDSet string `json:"gtid_set,omitempty"`
}

// IsZero reports whether no position is set.
func (p Position) IsZero() bool { return p.LSN == 0 && p.File == "" && p.GTIDSet == "" }

func (p Position) String() string {
	switch {
	case p.LSN != 0:
		return "lsn " + p.LSN.String()
	case p.GTIDSet != "":
		return fmt.Sprintf("%s:%d gtid %s", p.File, p.Pos, p.GTIDSet)
	case p.File != "":
		return fmt.Sprintf("%s:%d", p.File, p.Pos)
	}
	return "(none)"
}

// Checkpoint is what is stored per connector: where to resume, and what
// the snapshot state was.
type Checkpoint struct {
	Version  int      `json:"version"`
	Position Position `json:"position"`
	// SnapshotDone is true when Position is a place to stream from. Since
	// snapshots are read in chunks while streaming, that is every
	// checkpoint; the snapshots still under way are in Snapshot. A
	// checkpoint with SnapshotDone false was written by an older release
	// during its one-transaction initial snapshot: it is never resumed
	// from, and the snapshot is taken again.
	SnapshotDone bool `json:"snapshot_done"`
	// Snapshot is the progress of the table snapshots under way (nil when
	// none is): a restart resumes each at the chunk after the last one
	// delivered.
	Snapshot *SnapshotState `json:"snapshot,omitempty"`
	// Txn is set when the checkpoint falls inside a source transaction too
	// long for one Kafka transaction: that transaction is the next one
	// after Position, and its first Txn.Events changes were delivered
	// (committed with this checkpoint). A restart reads it again from
	// Position and skips them. Nil at a transaction boundary.
	Txn *TxnProgress `json:"txn,omitempty"`
	// Tables lists the captured tables ("<namespace>.<table>", sorted):
	// a table missing from it at the next start is new, and its snapshot
	// is taken while streaming. Nil in checkpoints of older releases.
	Tables []string `json:"tables,omitempty"`
	// ServerID identifies the source server (Postgres system identifier,
	// MySQL server_uuid / MariaDB domain:server) so a restart against a
	// different server is refused.
	ServerID string `json:"server_id,omitempty"`
	// Slot is the Postgres replication slot the position belongs to.
	Slot string `json:"slot,omitempty"`
	// TsMs is when the checkpoint was written.
	TsMs int64 `json:"ts_ms"`
}

// TxnProgress is how much of a source transaction a checkpoint inside it
// covers; Debezium's Postgres lsn_proc/event serial and MySQL row/event
// offsets serve the same purpose.
type TxnProgress struct {
	// ID identifies the transaction by its first change (GTID, binlog
	// position, or xid and LSN), so that a restart replaying another
	// transaction is refused rather than skipping the wrong changes.
	ID string `json:"id"`
	// Events is the number of the transaction's row changes delivered.
	Events int64 `json:"events"`
}

// Marshal encodes the checkpoint as JSON for the offsets topic.
func (c *Checkpoint) Marshal() ([]byte, error) { return json.Marshal(c) }

// Unmarshal decodes a checkpoint record value.
func Unmarshal(b []byte) (*Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("checkpoint record: %w", err)
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("checkpoint record version %d: this build reads version 1", c.Version)
	}
	return &c, nil
}
