// Package capture defines the source-neutral change events that the
// Postgres and MySQL capture packages produce, and the interfaces between a
// source and the pipeline that consumes it. Capture packages talk the
// replication protocol; they know nothing of Avro or Kafka.
package capture

import (
	"context"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// Op is the Debezium operation code of a change event.
type Op byte

// Operation codes, as Debezium writes them in the envelope's op field.
const (
	OpCreate   Op = 'c'
	OpUpdate   Op = 'u'
	OpDelete   Op = 'd'
	OpRead     Op = 'r' // a row read by a snapshot
	OpTruncate Op = 't'
)

func (o Op) String() string { return string(rune(o)) }

// Unchanged stands for a column value the source did not send because it
// did not change (an unchanged TOASTed Postgres value). It is never encoded
// as NULL: the type mapping's placeholder is used, or the pipeline stops.
var Unchanged = schema.Unchanged

// Change is one row change. Before and After hold raw source values in
// Table.Columns order (nil is SQL NULL, Unchanged an unsent value); a nil
// slice means the image is absent (no before for inserts, no after for
// deletes). Values must not be retained after the Handler returns unless
// copied: capture packages may reuse buffers.
type Change struct {
	Op     Op
	Table  *schema.Table // the schema version in force at this change's position
	Before []any
	After  []any
	Source SourceInfo
}

// SourceInfo is the metadata of a change for the envelope's source block.
type SourceInfo = schema.SourceInfo

// SchemaChange is a new table schema version (or a DDL statement) at a
// source position, recorded in the schema history before any row that uses
// it.
type SchemaChange struct {
	Table    *schema.Table // nil for a DDL that changes no captured table
	DDL      string        // the statement, when the source provides it
	Database string
	Position checkpoint.Position
	TsMs     int64
}

// Handler consumes a source's events in source order, on the source's
// goroutine. A returned error stops the source's Run with that error.
type Handler interface {
	// Change delivers one row change of the current transaction.
	Change(ctx context.Context, c *Change) error
	// SchemaChange delivers a schema version before the first row that
	// uses it.
	SchemaChange(ctx context.Context, sc *SchemaChange) error
	// Commit marks a transaction boundary: every change delivered before it
	// belongs to transactions committed at or before pos, so pos is a safe
	// place to resume from once they are delivered.
	Commit(ctx context.Context, pos checkpoint.Position) error
	// Idle reports that the source is caught up and has nothing in flight
	// up to pos (a keepalive or heartbeat past the last commit).
	Idle(ctx context.Context, pos checkpoint.Position) error
	// Watermark hands back a mark the snapshot engine wrote into the
	// change stream (Marker), at its place in the stream: every change
	// before it committed before the mark was written, every change after
	// it after. Marks of other runs or instances are passed on too; the
	// engine ignores what it did not write.
	Watermark(ctx context.Context, w *Watermark) error
	// Signal hands back a request written into the change stream (by
	// `sluice snapshot`), at its place in the stream. Requests for other
	// instances are passed on too; the receiver ignores them.
	Signal(ctx context.Context, s *Signal) error
}

// Signal is a request found in the change stream.
type Signal struct {
	Payload []byte
	// Position is as Watermark's.
	Position checkpoint.Position
}

// Watermark is a mark found in the change stream.
type Watermark struct {
	ID string
	// Position is the transaction boundary at which the mark sits (a
	// Postgres non-transactional message), or zero when it came inside a
	// source transaction (a MySQL signal-table row): the pipeline can
	// then checkpoint only at that transaction's Commit.
	Position checkpoint.Position
}

// Marker writes watermarks into the change stream of a source. Mark
// returns once the mark is durable in the source's log.
type Marker interface {
	Mark(ctx context.Context, id string) error
}

// Source is a database change stream.
type Source interface {
	// Run streams changes to h from the position given at construction
	// until ctx is cancelled or an error occurs. It returns ctx's error
	// after a cancellation.
	Run(ctx context.Context, h Handler) error
	// Ack reports that everything up to pos is durably delivered and
	// checkpointed; the source may let the database discard it (Postgres:
	// the slot's flushed LSN). Ack never blocks on the network.
	Ack(pos checkpoint.Position)
}
