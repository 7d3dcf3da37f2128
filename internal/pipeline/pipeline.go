// Package pipeline wires a capture source to the schema encoder, the Kafka
// producer and the checkpoint: capture → schema → emit → checkpoint, with
// acknowledgements flowing back to the source only after the checkpoint
// that covers them is durable.
//
// Data-integrity invariants enforced here (cited in the code as [In]):
//
//	I1. A checkpoint names only a source transaction boundary, except
//	    as I7 allows.
//	I2. A checkpoint is written only after every event before it is
//	    acknowledged by Kafka (exactly-once: in the same committed Kafka
//	    transaction as those events).
//	I3. The source is acknowledged (Postgres: the slot's flushed LSN) only
//	    after the checkpoint covering the position is durable.
//	I4. After the first delivery or encoding error nothing more is
//	    checkpointed or acknowledged: the pipeline stops with the error.
//	I5. A value that cannot be encoded stops the pipeline; it is never
//	    dropped or replaced silently.
//	I6. A schema version is recorded in the schema history in the same
//	    commit as (or before) the first event that uses it.
//	I7. Exactly-once: no Kafka transaction stays open for a source
//	    transaction longer than Options.SplitAfter. When one would, the
//	    batch is committed inside the source transaction with a checkpoint
//	    at the boundary before it that names the transaction and how many
//	    of its changes are delivered (checkpoint.TxnProgress); a restart
//	    replays the transaction from that boundary and skips exactly those
//	    changes, after checking it is the same transaction.
//	I8. The memory of a produced record (key, value and kgo.Record,
//	    carved from a reusing slab) is reused only after a checkpoint
//	    commit returned nil: the commit flushes the producer, and franz-go
//	    returns every record's promise before a flush ends, so neither
//	    the producer nor an acknowledgement hook refers to it any more.
package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/internal/transform"
	"github.com/sluicecdc/sluice/schema"
)

// Options configure a Pipeline.
type Options struct {
	Name       string
	Kind       schema.SourceKind
	Tombstones bool
	// AvroLogicalTypes: schema.CodecOptions.AvroLogicalTypes.
	AvroLogicalTypes bool
	// Connector is source.connector (schema.CodecOptions.Connector);
	// empty: Kind's.
	Connector string
	// SkipOps holds the operation codes whose changes are not emitted
	// (source.skipped_operations), e.g. "t". Snapshot reads are never
	// skipped.
	SkipOps        string
	Partitions     int32
	Replication    int16
	CommitInterval time.Duration
	CommitEvents   int
	// Linger, in exactly-once mode while the source is caught up, commits
	// a batch once its oldest event has waited this long, before
	// CommitInterval (checkpoint.linger; see linger.go). Zero commits at
	// every transaction boundary then; CommitInterval or more turns it
	// off.
	Linger time.Duration
	// SplitAfter, in exactly-once mode, is how long a Kafka transaction
	// may stay open inside one source transaction before the part
	// produced so far is committed [I7]; zero never splits. It is half of
	// kafka.transaction_timeout, leaving the other half for the commit.
	SplitAfter time.Duration
	// TxnMetadata writes the envelope's transaction block and BEGIN and
	// END events to <name>.transaction (kafka.transaction_metadata).
	TxnMetadata bool
	// ExcludeColumns maps "ns.table" to excluded column names.
	ExcludeColumns map[string]map[string]bool
	// ServerID, Slot and Tables (the captured tables, "<ns>.<table>") are
	// stored in every checkpoint.
	ServerID string
	Slot     string
	Tables   []string
	Logger   *slog.Logger
	Metrics  *Metrics
	// Transforms, when not nil, are applied to every change between
	// decoding and encoding (transform.go).
	Transforms *transform.Chain
}

// OffsetsTopic is the checkpoint topic of a connector. Internal topics
// are outside the <name>. prefix, so that a pattern subscription to every
// change topic of an instance (<name>\..*) meets only Avro topics.
func OffsetsTopic(name string) string { return "_sluice." + name + ".offsets" }

// HistoryTopic is the schema-history topic of a connector.
func HistoryTopic(name string) string { return "_sluice." + name + ".schema-history" }

// LegacyOffsetsTopic is where releases before the rename stored the
// checkpoint; a start that finds none under OffsetsTopic carries one over
// from there.
func LegacyOffsetsTopic(name string) string { return name + ".sluice.offsets" }

// TableTopic is the change topic of a table: <name>.<namespace>.<table>,
// with characters Kafka does not allow replaced by '_'.
func TableTopic(name string, id schema.TableID) string {
	return name + "." + topicSafe(id.Namespace) + "." + topicSafe(id.Name)
}

func topicSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

type tableState struct {
	codec   *schema.Codec
	keyID   int
	valueID int
	tf      *transform.Encoder // nil: no transform applies
}

// Pipeline implements capture.Handler.
type Pipeline struct {
	o      Options
	prod   *emit.Producer
	topics *emit.Topics
	reg    *schema.Registry
	src    capture.Source
	log    *slog.Logger
	m      *Metrics

	tables map[*schema.Table]*tableState

	pending    int       // events produced since the last checkpoint
	txnRecords int       // events of the current source transaction produced so far
	batchStart time.Time // when the open batch got its first event
	// [I7] The current source transaction's stream changes handed over
	// (delivered or skipped), its identity, what a checkpoint written now
	// inside it covers, and, after a restart inside a transaction, what
	// to skip of it.
	txnChanges   int64
	txnFirst     capture.SourceInfo // the transaction's first change, which names it (txnID)
	partial      *checkpoint.TxnProgress
	skip         *checkpoint.TxnProgress
	lastCommit   time.Time
	lastBoundary time.Time           // the last Commit (a source transaction boundary); see Idle
	safe         checkpoint.Position // last transaction boundary seen
	checkpointed checkpoint.Position // last durable checkpoint
	snapshotDone bool
	snapshot     *checkpoint.SnapshotState // progress of the snapshots under way
	checkpoints  uint64                    // checkpoints committed (Checkpoints)
	history      []*kgo.Record             // schema-history records awaiting commit
	ddl          *schemaChanges            // the schema-change topic, once a DDL was seen
	dirty        bool                      // safe moved since the last checkpoint
	err          error                     // sticky [I4]
	slab         slab                      // backing store of produced records
	readSlab     slab                      // of snapshot rows EmitRead produces; reused after a commit [I8]
	meta         txnMeta                   // transaction metadata of the current source transaction
	readSource   readSource                // the last source block EmitRead encoded
}

// New returns a pipeline producing with prod and registering with reg.
// start is the checkpoint the source resumes from (nil for a fresh start).
func New(o Options, prod *emit.Producer, reg *schema.Registry, start *checkpoint.Checkpoint) *Pipeline {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = time.Second
	}
	if o.CommitEvents <= 0 {
		o.CommitEvents = 250000
	}
	p := &Pipeline{
		o: o, prod: prod, reg: reg, log: o.Logger, m: o.Metrics,
		topics:     emit.NewTopics(prod.Client()),
		tables:     map[*schema.Table]*tableState{},
		lastCommit: time.Now(),
		readSlab:   slab{reuse: true},
	}
	if start != nil {
		p.safe = start.Position
		p.checkpointed = start.Position
		p.snapshotDone = start.SnapshotDone
		p.snapshot = start.Snapshot
		if start.Txn != nil && start.Txn.Events > 0 {
			t := *start.Txn
			p.skip, p.partial = &t, &t
		}
	}
	return p
}

// SetSource sets the source to acknowledge checkpointed positions to.
func (p *Pipeline) SetSource(s capture.Source) { p.src = s }

// EnsureInternalTopics creates the offsets and schema-history topics.
func (p *Pipeline) EnsureInternalTopics(ctx context.Context) error {
	return p.topics.Ensure(ctx,
		emit.TopicSpec{Name: OffsetsTopic(p.o.Name), Partitions: 1, ReplicationFactor: p.o.Replication, Configs: emit.OffsetsConfigs},
		emit.TopicSpec{Name: HistoryTopic(p.o.Name), Partitions: 1, ReplicationFactor: p.o.Replication, Configs: emit.HistoryConfigs},
	)
}

func (p *Pipeline) state(ctx context.Context, t *schema.Table) (*tableState, error) {
	if st, ok := p.tables[t]; ok {
		return st, nil
	}
	if st, err := p.transformedState(ctx, t); st != nil || err != nil {
		return st, err
	}
	codec, err := p.codec(t)
	if err != nil {
		return nil, err
	}
	st := &tableState{codec: codec}
	t0 := time.Now()
	if st.keyID, st.valueID, err = p.output(ctx, codec); err != nil {
		return nil, err
	}
	p.log.Debug("table output ready", "topic", codec.Topic, "waited", time.Since(t0))
	p.tables[t] = st
	return st, nil
}

// Change encodes and produces one change event (and its tombstone). A
// change of a skipped operation is dropped here, before encoding; the
// source's Commit that follows still moves the checkpoint past it.
func (p *Pipeline) Change(ctx context.Context, c *capture.Change) error {
	if p.err != nil {
		return p.err
	}
	p.meta.block = nil
	if c.Op != capture.OpRead {
		deliver, err := p.admit(ctx, c)
		if err != nil {
			return err
		}
		if p.o.SkipOps != "" && strings.IndexByte(p.o.SkipOps, byte(c.Op)) >= 0 {
			return nil // source.skipped_operations; still counted by admit [I7]
		}
		if p.o.TxnMetadata {
			// A change delivered before a restart inside its transaction
			// still counts, so the orders go on where they were [I7].
			if err := p.txnEvent(ctx, c, deliver); err != nil {
				return p.stop(err)
			}
		}
		if !deliver {
			return nil
		}
	}
	rec, tomb, err := p.encode(ctx, c)
	return p.produce(ctx, c, rec, tomb, err)
}

func (p *Pipeline) produce(ctx context.Context, c *capture.Change, rec, tomb *kgo.Record, err error) error {
	if err != nil {
		// [I5] Stop. When the value is the first change of its
		// transaction, first commit the complete transactions before it,
		// so the topics hold everything up to the one that cannot be
		// represented; otherwise the batch is abandoned, never committed.
		if p.txnRecords == 0 && p.dirty && (p.snapshotDone || !p.prod.Transactional()) {
			if cerr := p.Checkpoint(ctx); cerr != nil {
				p.log.Warn("could not commit the transactions before the unrepresentable value", "err", cerr)
			}
		}
		return p.stop(err)
	}
	if rec == nil {
		return nil // a transform configured to drop the change
	}
	if err := p.prod.Produce(ctx, rec); err != nil {
		return p.stop(err)
	}
	if p.pending == 0 {
		p.batchStart = time.Now()
	}
	p.pending++
	p.txnRecords++
	ts := c.Source.TsMs
	if c.Op == capture.OpRead {
		// A snapshot read's time is when it was read, not a source commit:
		// it says nothing of the stream's lag, nor that the stream is
		// caught up (which would commit a snapshot's chunks at every
		// boundary, see lingered).
		ts = 0
	}
	p.m.event(c.Table.ID, c.Op, len(rec.Value)+len(rec.Key), ts)
	if tomb != nil {
		if err := p.prod.Produce(ctx, tomb); err != nil {
			return p.stop(err)
		}
		p.pending++
	}
	return nil
}

func (p *Pipeline) encode(ctx context.Context, c *capture.Change) (rec, tomb *kgo.Record, err error) {
	st, err := p.state(ctx, c.Table)
	if err != nil {
		return nil, nil, err
	}
	if st.tf != nil {
		return p.encodeTransformed(ctx, st, c)
	}
	return encodeWith(st, &p.slab, p.o.Tombstones, c, p.meta.block)
}

// encodeWith encodes c's record (and tombstone) with the table state st,
// carving them from s.
func encodeWith(st *tableState, s *slab, tombstones bool, c *capture.Change, txn *schema.TxnBlock) (rec, tomb *kgo.Record, err error) {
	var key []byte
	if st.codec.HasKey() {
		row := c.After
		if row == nil {
			row = c.Before
		}
		if row != nil {
			key = schema.AppendWireHeader(s.bytes(64), st.keyID)
			if key, err = st.codec.AppendKey(key, row); err != nil {
				return nil, nil, err
			}
			s.used(key)
		}
	}
	// One clock read gives the envelope's ts_ms and the record timestamp
	// (which franz-go would otherwise read again).
	now := time.Now()
	val := schema.AppendWireHeader(s.bytes(512), st.valueID)
	val, err = st.codec.AppendValue(val, &schema.Event{
		Op: byte(c.Op), Before: c.Before, After: c.After, Source: &c.Source, TsMs: now.UnixMilli(), TsUs: now.UnixMicro(), Txn: txn,
	})
	if err != nil {
		return nil, nil, err
	}
	s.used(val)
	rec = s.record()
	*rec = kgo.Record{Topic: st.codec.Topic, Key: key, Value: val, Timestamp: now, Context: s.stamp(c)}
	if c.Op == capture.OpDelete && tombstones && key != nil {
		tomb = s.record()
		*tomb = kgo.Record{Topic: st.codec.Topic, Key: key, Timestamp: now}
	}
	return rec, tomb, nil
}

// SchemaChange records a schema version in the history [I6].
func (p *Pipeline) SchemaChange(ctx context.Context, sc *capture.SchemaChange) error {
	if p.err != nil {
		return p.err
	}
	b, err := json.Marshal(historyRecord{
		Source: p.o.Name, Position: sc.Position, TsMs: sc.TsMs, Database: sc.Database, DDL: sc.DDL, Table: sc.Table,
	})
	if err != nil {
		return p.stop(err)
	}
	p.history = append(p.history, &kgo.Record{Topic: HistoryTopic(p.o.Name), Key: []byte(p.o.Name), Value: b})
	if sc.DDL != "" {
		if err := p.emitSchemaChange(ctx, sc); err != nil {
			return p.stop(err)
		}
	}
	return nil
}

type historyRecord struct {
	Source   string              `json:"source"`
	Position checkpoint.Position `json:"position"`
	TsMs     int64               `json:"ts_ms"`
	Database string              `json:"database,omitempty"`
	DDL      string              `json:"ddl,omitempty"`
	Table    *schema.Table       `json:"table,omitempty"`
}

// Commit notes a transaction boundary and checkpoints when the batch is
// due [I1].
func (p *Pipeline) Commit(ctx context.Context, pos checkpoint.Position) error {
	if p.err != nil {
		return p.err
	}
	if err := p.endTxn(); err != nil {
		return p.stop(err)
	}
	if err := p.txnEnd(ctx); err != nil {
		return p.stop(err)
	}
	p.safe = pos
	p.dirty = true
	p.txnRecords = 0
	now := time.Now()
	p.lastBoundary = now
	if !p.snapshotDone && p.prod.Transactional() {
		// Exactly-once: the initial snapshot is one Kafka transaction, so
		// a snapshot interrupted by a crash or an outage leaves no
		// committed read events behind and the retake repeats none.
		return nil
	}
	if p.pending >= p.o.CommitEvents || now.Sub(p.lastCommit) >= p.o.CommitInterval || p.lingered(now) {
		return p.Checkpoint(ctx)
	}
	return nil
}

// Idle notes that the source is caught up at pos with nothing in flight.
func (p *Pipeline) Idle(ctx context.Context, pos checkpoint.Position) error {
	if p.err != nil {
		return p.err
	}
	if p.txnRecords > 0 || p.txnChanges > 0 {
		// [I1] Part of a source transaction is in the open batch: the
		// source is not idle, and pos (at or before that transaction's
		// start) must not be committed with it. A source reports Idle
		// only with nothing in flight; this guards the contract.
		return nil
	}
	p.m.CaughtUp.Store(true)
	if pos.LSN != 0 && pos.LSN < p.safe.LSN {
		pos = p.safe // never move a checkpoint backwards
	}
	if pos != p.safe {
		p.safe = pos
		p.dirty = true
	}
	// Events waiting in an open batch are committed as soon as the source
	// goes quiet (in exactly-once mode they are invisible until then); a
	// position that merely moved is checkpointed at the usual interval.
	// An Idle report amid a stream of transactions (a keepalive answering
	// a status update, a heartbeat message read from a backlog) is no
	// quiet: committing there would add commits to a drain, each holding
	// the source for a flush and, exactly-once, a transaction's end.
	now := time.Now()
	quiet := now.Sub(p.lastBoundary) >= busyWithin
	if (p.pending > 0 && quiet) || len(p.history) > 0 || (p.dirty && now.Sub(p.lastCommit) >= p.o.CommitInterval) {
		return p.Checkpoint(ctx)
	}
	return nil
}

// busyWithin: an Idle report less than this after the source's last
// transaction boundary is taken as part of a stream of transactions, not
// as the source going quiet (see Idle). A draining source reports
// boundaries microseconds apart; a quiet one reports Idle after at least
// this long without a message.
const busyWithin = 5 * time.Millisecond

// Watermark ignores a snapshot watermark: the snapshot engine, which
// wraps the pipeline while snapshots run, acts on its own; the source
// reports the mark's position through Idle as well.
func (p *Pipeline) Watermark(context.Context, *capture.Watermark) error { return p.err }

// Signal ignores a request from the change stream: the snapshot engine,
// which wraps the pipeline, acts on it.
func (p *Pipeline) Signal(context.Context, *capture.Signal) error { return p.err }

// SetSnapshotState records the progress of the snapshots under way; every
// checkpoint from now on carries it, in the same commit as the events
// produced before this call. The snapshot engine calls it on the source's
// goroutine right after handing over a chunk's rows, so a checkpoint never
// names a chunk whose rows it does not hold [I2]. The checkpoint follows
// the commit policy; the engine calls Checkpoint when it needs one sooner
// (snapshot S8).
func (p *Pipeline) SetSnapshotState(s *checkpoint.SnapshotState) {
	p.snapshot = s
	p.dirty = true
}

// Checkpoints returns how many checkpoints were committed so far.
func (p *Pipeline) Checkpoints() uint64 { return p.checkpoints }

// SnapshotDone marks the initial snapshot delivered and checkpoints at pos.
func (p *Pipeline) SnapshotDone(ctx context.Context, pos checkpoint.Position) error {
	p.snapshotDone = true
	p.safe = pos
	p.dirty = true
	return p.Checkpoint(ctx)
}

// Checkpoint makes every event produced so far durable, then writes the
// checkpoint at the last transaction boundary, then acknowledges the
// source [I2, I3]. It must be called only at a transaction boundary.
func (p *Pipeline) Checkpoint(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	if !p.dirty && p.pending == 0 && len(p.history) == 0 {
		return nil
	}
	start := time.Now()
	rec, err := checkpoint.Record(OffsetsTopic(p.o.Name), p.o.Name, &checkpoint.Checkpoint{
		Position: p.safe, SnapshotDone: p.snapshotDone, Snapshot: p.snapshot, Tables: p.o.Tables, ServerID: p.o.ServerID, Slot: p.o.Slot,
		Txn: p.partial, // [I7]
	})
	if err != nil {
		return p.stop(err)
	}
	tail := append(p.history, rec)
	if err := p.prod.Commit(ctx, tail...); err != nil {
		return p.stop(err) // [I4]: nothing acknowledged
	}
	p.readSlab.committed() // [I8]
	p.history = nil
	p.pending = 0
	p.dirty = false
	p.checkpoints++
	p.lastCommit = time.Now()
	p.checkpointed = p.safe
	p.m.committed(p.safe)
	p.log.Debug("checkpoint committed", "position", p.safe.String(), "took", time.Since(start))
	if p.src != nil && p.snapshotDone {
		p.src.Ack(p.safe) // [I3]
	}
	return nil
}

// Finish commits, at a graceful stop, everything up to the last
// transaction boundary the source reported. When the source stopped inside
// a transaction (its connection was lost in the middle of one), part of
// that transaction is in the open batch: in exactly-once mode the batch
// cannot be committed without exposing the part [I1], so Finish commits
// nothing and returns false; the caller closes the producer, which aborts
// the batch, and the next run reads it again from the last checkpoint. In
// at-least-once mode the checkpoint at the last boundary is written after
// every event is acknowledged, as always [I2].
func (p *Pipeline) Finish(ctx context.Context) (committed bool, err error) {
	if (p.txnRecords > 0 || p.txnChanges > 0) && p.prod.Transactional() {
		return false, nil
	}
	if err := p.Checkpoint(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// Checkpointed returns the last durable checkpoint position.
func (p *Pipeline) Checkpointed() checkpoint.Position { return p.checkpointed }

func (p *Pipeline) stop(err error) error {
	if p.err == nil {
		p.err = err
	}
	return p.err
}

// Err returns the error that stopped the pipeline, if any.
func (p *Pipeline) Err() error { return p.err }

// String describes the pipeline for logs.
func (p *Pipeline) String() string {
	return fmt.Sprintf("pipeline %s (%s)", p.o.Name, p.o.Kind)
}
