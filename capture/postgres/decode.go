package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// This file turns pgoutput messages into capture events. It does no I/O
// of its own: the few facts the stream does not carry come through
// catalogLookup, so tests feed it wire messages without a database.

// catalogLookup is what decoding needs from the database. Both lookups
// answer from the catalog as it is now, not as it was at the position
// being decoded, so the decoder asks only where the stream is silent
// (docs/TYPES.md, PostgreSQL "Table versions").
type catalogLookup interface {
	// typeDef reads the pg_type row of oid, with an enum's labels.
	typeDef(ctx context.Context, oid uint32) (*typeInfo, error)
	// keyColumns returns the primary key's columns in key order, else
	// those of the replica identity index, else none.
	keyColumns(ctx context.Context, relid uint32) ([]string, error)
}

// errMalformed marks a pgoutput message that does not decode: a protocol
// violation, never something to skip.
var errMalformed = errors.New("malformed pgoutput message")

// decoder holds the state of one replication stream between messages:
// the relations announced so far and the transaction being decoded.
type decoder struct {
	filter *Filter
	db     string
	// heartbeat reports non-transactional logical decoding messages
	// outside transactions as Idle positions.
	heartbeat bool
	lookup    catalogLookup
	res       *resolver
	relations map[uint32]*relation

	startLSN   checkpoint.LSN // transactions committed before it were delivered
	lastCommit checkpoint.LSN
	lastIdle   checkpoint.LSN // highest position reported through Idle

	// current transaction
	inTxn    bool
	skipTxn  bool
	xid      uint32
	commitTs int64
	commitUs int64
	// origin and originLSN name the replication origin the transaction
	// came from (pgoutput's Origin message), as Debezium's source.origin
	// and source.origin_lsn.
	origin    string
	originLSN int64

	before, after []any
	change        capture.Change
	scratch       []byte

	// messages are the logical decoding messages delivered as row
	// changes (message.go); log reports the ones that cannot be.
	messages Messages
	log      *slog.Logger
}

func (d *decoder) init(l catalogLookup, f *Filter, db string, heartbeat bool, start checkpoint.LSN) {
	d.lookup = l
	d.res = newResolver(l)
	d.filter = f
	d.db = db
	d.heartbeat = heartbeat
	d.relations = map[uint32]*relation{}
	d.startLSN = start
	d.lastCommit = start
}

// relation is what the stream announced about one relation OID.
type relation struct {
	id       schema.TableID
	captured bool
	table    *schema.Table
	// cols and keys are what table was built from, kept to build it
	// again when an enum gains a label.
	cols  []colDef
	keys  []string
	enums []enumColumn
}

// enumColumn is a column of an enum type, or an array of one.
type enumColumn struct {
	index int
	oid   uint32 // the enum type
	ct    schema.ColumnType
}

// parse decodes one pgoutput message. pglogrepl trusts the lengths and
// counts inside a message: it indexes past the end of a short one, and
// allocates whatever a corrupt length declares (up to 16 GiB for a
// truncate's relation count), which no recover could undo. So lengths are
// checked first, and any panic left is reported as an error.
func parse(data []byte) (msg pglogrepl.Message, err error) {
	if err := checkLengths(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: %v", errMalformed, r)
		}
	}()
	if m, ok := parseChange(data); ok {
		return m, nil
	}
	msg, err = pglogrepl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return msg, nil
}

// checkLengths checks that the tuples of an insert, update or delete and
// the relation list of a truncate fit in the message.
func checkLengths(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty", errMalformed)
	}
	body := data[1:]
	switch data[0] {
	case 'I':
		if len(body) < 5 {
			break
		}
		_, err := tupleLen(body[5:])
		return err
	case 'U':
		if len(body) < 5 {
			break
		}
		rest := body[4:]
		if rest[0] == 'K' || rest[0] == 'O' {
			n, err := tupleLen(rest[1:])
			if err != nil {
				return err
			}
			rest = rest[1+n:]
			if len(rest) == 0 || rest[0] != 'N' {
				return fmt.Errorf("%w: update without its new tuple", errMalformed)
			}
		}
		_, err := tupleLen(rest[1:])
		return err
	case 'D':
		if len(body) < 5 {
			break
		}
		_, err := tupleLen(body[5:])
		return err
	case 'T':
		if len(body) < 5 {
			break
		}
		if n := binary.BigEndian.Uint32(body); uint64(n)*4 > uint64(len(body)-5) {
			return fmt.Errorf("%w: truncate of %d relations in %d bytes", errMalformed, n, len(body))
		}
	case 'M':
		// flags, LSN, prefix, content length, content. pglogrepl slices
		// the content without a bounds check, which within the buffer's
		// capacity reads past the message instead of failing.
		if len(body) < 14 {
			break
		}
		end := bytes.IndexByte(body[9:], 0)
		if end < 0 || len(body) < 9+end+1+4 {
			return fmt.Errorf("%w: logical decoding message cut short", errMalformed)
		}
		rest := body[9+end+1:]
		if n := binary.BigEndian.Uint32(rest); uint64(n) > uint64(len(rest)-4) {
			return fmt.Errorf("%w: logical decoding message declares %d bytes of content, %d remain", errMalformed, n, len(rest)-4)
		}
	}
	// Too short to hold its fixed part: pglogrepl says so.
	return nil
}

// tupleLen returns the length of the TupleData at the start of b.
func tupleLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: tuple data cut short", errMalformed)
	}
	n := int(binary.BigEndian.Uint16(b))
	off := 2
	for i := 0; i < n; i++ {
		if off >= len(b) {
			return 0, fmt.Errorf("%w: tuple data cut short at column %d of %d", errMalformed, i+1, n)
		}
		kind := b[off]
		off++
		switch kind {
		case pglogrepl.TupleDataTypeNull, pglogrepl.TupleDataTypeToast:
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			if len(b)-off < 4 {
				return 0, fmt.Errorf("%w: tuple data cut short at column %d of %d", errMalformed, i+1, n)
			}
			l := binary.BigEndian.Uint32(b[off:])
			off += 4
			if uint64(l) > uint64(len(b)-off) {
				return 0, fmt.Errorf("%w: column %d declares %d bytes, %d remain", errMalformed, i+1, l, len(b)-off)
			}
			off += int(l)
		default:
			return 0, fmt.Errorf("%w: column %d has tuple data type %q", errMalformed, i+1, kind)
		}
	}
	return off, nil
}

// handle decodes one XLogData message and hands what it means to h.
func (d *decoder) handle(ctx context.Context, h capture.Handler, xld pglogrepl.XLogData) error {
	msg, err := parse(xld.WALData)
	if err != nil {
		return fmt.Errorf("postgres: decoding pgoutput message at %s: %w", xld.WALStart, err)
	}
	at := xld.WALStart
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		d.inTxn = true
		d.xid = m.Xid
		d.commitTs = m.CommitTime.UnixMilli()
		d.commitUs = m.CommitTime.UnixMicro()
		d.origin, d.originLSN = "", 0
		// A transaction that committed before the start position was
		// delivered before the checkpoint: never deliver it twice.
		d.skipTxn = checkpoint.LSN(m.FinalLSN) < d.startLSN
	case *pglogrepl.CommitMessage:
		d.inTxn = false
		end := checkpoint.LSN(m.TransactionEndLSN)
		if d.skipTxn {
			d.skipTxn = false
			return nil
		}
		if end > d.lastCommit {
			d.lastCommit = end
		}
		return h.Commit(ctx, checkpoint.Position{LSN: end})
	case *pglogrepl.OriginMessage:
		d.origin, d.originLSN = m.Name, int64(m.CommitLSN)
	case *pglogrepl.RelationMessage:
		return d.relation(ctx, h, m, at)
	case *pglogrepl.InsertMessage:
		rel, err := d.rel(m.RelationID)
		if err != nil || !rel.captured || d.skipTxn {
			return err
		}
		after, err := d.row(ctx, h, rel, m.Tuple, &d.after, nil, at)
		if err != nil {
			return err
		}
		return d.emit(ctx, h, rel, capture.OpCreate, nil, after, at)
	case *pglogrepl.UpdateMessage:
		rel, err := d.rel(m.RelationID)
		if err != nil || !rel.captured || d.skipTxn {
			return err
		}
		var before []any
		if m.OldTuple != nil {
			if before, err = d.row(ctx, h, rel, m.OldTuple, &d.before, nil, at); err != nil {
				return err
			}
		}
		after, err := d.row(ctx, h, rel, m.NewTuple, &d.after, before, at)
		if err != nil {
			return err
		}
		if before != nil && keyChanged(rel.table, before, after) {
			// As Debezium: a key change is a delete of the old key
			// (followed by its tombstone) and a create of the new one.
			if err := d.emit(ctx, h, rel, capture.OpDelete, before, nil, at); err != nil {
				return err
			}
			return d.emit(ctx, h, rel, capture.OpCreate, nil, after, at)
		}
		if m.OldTupleType != pglogrepl.UpdateMessageTupleTypeOld {
			before = nil // only key columns were sent: no before image
		}
		return d.emit(ctx, h, rel, capture.OpUpdate, before, after, at)
	case *pglogrepl.DeleteMessage:
		rel, err := d.rel(m.RelationID)
		if err != nil || !rel.captured || d.skipTxn {
			return err
		}
		before, err := d.row(ctx, h, rel, m.OldTuple, &d.before, nil, at)
		if err != nil {
			return err
		}
		return d.emit(ctx, h, rel, capture.OpDelete, before, nil, at)
	case *pglogrepl.TruncateMessage:
		if d.skipTxn {
			return nil
		}
		for _, id := range m.RelationIDs {
			rel, err := d.rel(id)
			if err != nil {
				return err
			}
			if rel.captured {
				if err := d.emit(ctx, h, rel, capture.OpTruncate, nil, nil, at); err != nil {
					return err
				}
			}
		}
	case *pglogrepl.LogicalDecodingMessage:
		if t := d.messages[m.Prefix]; t != nil {
			return d.message(ctx, h, t, m, at)
		}
		if m.Prefix == SignalPrefix && m.Transactional && d.inTxn {
			if d.skipTxn {
				return nil
			}
			return h.Signal(ctx, &capture.Signal{Payload: m.Content})
		}
		if m.Prefix == WatermarkPrefix && m.Transactional && d.inTxn {
			// A watermark is a transaction of its own (Marker): it sits
			// where that transaction commits, the boundary its Commit
			// reports next.
			if d.skipTxn {
				return nil
			}
			return h.Watermark(ctx, &capture.Watermark{ID: string(m.Content)})
		}
		if m.Transactional || d.inTxn {
			return nil
		}
		pos := checkpoint.LSN(m.LSN)
		if m.Prefix == WatermarkPrefix {
			// A non-transactional mark: outside any transaction (pgoutput
			// sends a transaction whole at its commit), so its LSN is a
			// boundary.
			if err := h.Watermark(ctx, &capture.Watermark{ID: string(m.Content), Position: checkpoint.Position{LSN: pos}}); err != nil {
				return err
			}
		}
		if (d.heartbeat || m.Prefix == WatermarkPrefix) && pos > max(d.lastCommit, d.lastIdle) {
			d.lastIdle = pos
			return h.Idle(ctx, checkpoint.Position{LSN: pos})
		}
	}
	return nil
}

// message delivers a logical decoding message of a Messages prefix as an
// insert into its table, at its place in its transaction. A
// non-transactional one is not part of any transaction (it is written
// even when the transaction around it rolls back), so it cannot be
// delivered with its writes: it is logged and left out.
func (d *decoder) message(ctx context.Context, h capture.Handler, t *schema.Table, m *pglogrepl.LogicalDecodingMessage, at pglogrepl.LSN) error {
	if !m.Transactional || !d.inTxn {
		if d.log != nil {
			d.log.Warn("non-transactional logical decoding message ignored: only pg_logical_emit_message(true, ...) commits with its transaction",
				"prefix", m.Prefix, "lsn", at.String())
		}
		return nil
	}
	if d.skipTxn {
		return nil
	}
	row, err := messageRow(t, m.Content, at)
	if err != nil {
		return err
	}
	return d.emit(ctx, h, &relation{id: t.ID, captured: true, table: t}, capture.OpCreate, nil, row, at)
}

func (d *decoder) rel(id uint32) (*relation, error) {
	rel, ok := d.relations[id]
	if !ok {
		return nil, fmt.Errorf("postgres: change for relation %d arrived before its relation message (protocol violation)", id)
	}
	return rel, nil
}

// relation builds a table version from a relation message. pgoutput sends
// one before the first change of a relation in a session and again before
// the first change after any change of its definition (columns, types,
// key), all read as of the message's position: rows are decoded with the
// schema of their position. What the message lacks (type names, enum
// labels, domain base types) is read from the catalog again on every
// relation message, never taken from a cache older than the message.
func (d *decoder) relation(ctx context.Context, h capture.Handler, m *pglogrepl.RelationMessage, at pglogrepl.LSN) error {
	id := schema.TableID{Namespace: m.Namespace, Name: m.RelationName}
	rel := d.relations[m.RelationID]
	if rel == nil {
		rel = &relation{}
		d.relations[m.RelationID] = rel
	}
	rel.id = id
	rel.captured = false
	if !d.filter.Match(id) {
		return nil
	}
	seen := make(map[string]bool, len(m.Columns))
	cols := make([]colDef, len(m.Columns))
	for i, c := range m.Columns {
		if seen[c.Name] {
			return fmt.Errorf("postgres: relation %s names column %q twice (protocol violation)", id, c.Name)
		}
		seen[c.Name] = true
		cols[i] = colDef{name: c.Name, oid: c.DataType, typmod: c.TypeModifier}
	}
	keys, err := d.relationKey(ctx, m)
	if err != nil {
		return err
	}
	d.res.invalidate()
	t, err := d.res.table(ctx, id, cols, keys)
	if err != nil {
		return err
	}
	rel.cols, rel.keys, rel.captured = cols, keys, true
	return d.setTable(ctx, h, rel, t, at)
}

// Replica identities, as the relation message's ReplicaIdentity names
// them (pg_class.relreplident).
const (
	identityDefault = 'd'
	identityIndex   = 'i'
	identityFull    = 'f'
	identityNothing = 'n'
)

// relationKey decides which columns key the records of a relation
// version. The relation message flags the columns of the replica
// identity key as of its position:
//
//   - DEFAULT: the flagged columns are the primary key at that position,
//     and are the key (none flagged: the table had no primary key). The
//     catalog is asked only for their order when there are several, and
//     its answer is used only when it names the same columns; otherwise
//     (the key has changed since) they keep the table's column order.
//   - INDEX: the flagged columns are the replica identity index. The key
//     is the primary key as the catalog has it now, as for the snapshot
//     (the stream does not say which columns form it), when the relation
//     has all its columns; else the flagged columns.
//   - FULL and NOTHING: every column, or none, is flagged, which says
//     nothing about the key. As Debezium does, the key is the primary key
//     as the catalog has it now; a catch-up over a change of that key
//     keys the older rows with today's key, and docs/TYPES.md says so.
func (d *decoder) relationKey(ctx context.Context, m *pglogrepl.RelationMessage) ([]string, error) {
	var flagged []string
	for _, c := range m.Columns {
		if c.Flags&1 != 0 {
			flagged = append(flagged, c.Name)
		}
	}
	if m.ReplicaIdentity == identityDefault && len(flagged) < 2 {
		return flagged, nil
	}
	current, err := d.lookup.keyColumns(ctx, m.RelationID)
	if err != nil {
		return nil, err
	}
	switch m.ReplicaIdentity {
	case identityDefault:
		if sameColumns(current, flagged) {
			return current, nil
		}
		return flagged, nil
	case identityIndex:
		if len(current) > 0 && hasColumns(m, current) {
			return current, nil
		}
		return flagged, nil
	}
	return current, nil
}

// sameColumns reports whether a and b name the same columns, in any order.
func sameColumns(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[string]bool, len(a))
	for _, c := range a {
		set[c] = true
	}
	for _, c := range b {
		if !set[c] {
			return false
		}
	}
	return true
}

func hasColumns(m *pglogrepl.RelationMessage, names []string) bool {
	have := make(map[string]bool, len(m.Columns))
	for _, c := range m.Columns {
		have[c.Name] = true
	}
	for _, n := range names {
		if !have[n] {
			return false
		}
	}
	return true
}

// setTable makes t rel's current version and delivers it, unless it is
// the version rel already has.
func (d *decoder) setTable(ctx context.Context, h capture.Handler, rel *relation, t *schema.Table, at pglogrepl.LSN) error {
	if rel.table != nil && rel.table.Equal(t) {
		return nil
	}
	enums, err := enumColumns(t)
	if err != nil {
		return err
	}
	rel.table, rel.enums = t, enums
	return h.SchemaChange(ctx, &capture.SchemaChange{
		Table: t, Database: d.db, Position: checkpoint.Position{LSN: checkpoint.LSN(at)}, TsMs: time.Now().UnixMilli(),
	})
}

func enumColumns(t *schema.Table) ([]enumColumn, error) {
	var out []enumColumn
	for i := range t.Columns {
		c := &t.Columns[i]
		var oid uint32
		switch {
		case c.Kind == "e":
			oid = c.OID
		case c.Elem != nil && c.Elem.Kind == "e":
			oid = c.Elem.OID
		default:
			continue
		}
		ct, err := schema.PostgresColumnType(c)
		if err != nil {
			return nil, fmt.Errorf("postgres: table %s column %s: %w", t.ID, c.Name, err)
		}
		out = append(out, enumColumn{index: i, oid: oid, ct: ct})
	}
	return out, nil
}

// row decodes a tuple (see tuple) and makes sure rel's current version
// can describe its enum values (see knownLabels).
func (d *decoder) row(ctx context.Context, h capture.Handler, rel *relation, td *pglogrepl.TupleData, buf *[]any, old []any, at pglogrepl.LSN) ([]any, error) {
	if td == nil {
		return nil, fmt.Errorf("postgres: table %s: change without its tuple (protocol violation)", rel.id)
	}
	row, err := d.tuple(rel, td, buf, old)
	if err != nil {
		return nil, err
	}
	if err := d.knownLabels(ctx, h, rel, row, at); err != nil {
		return nil, err
	}
	return row, nil
}

// knownLabels makes sure every enum value of row is a label of rel's
// current version. ALTER TYPE ... ADD VALUE sends no relation message, so
// a label added while streaming first shows in a row: the enum's labels
// are then read again and the new version is delivered before the row.
// Labels are never removed from an enum, so today's labels include every
// label of any earlier position. A value still unknown after that is left
// to the encoder, which stops the pipeline with a ValueError.
func (d *decoder) knownLabels(ctx context.Context, h capture.Handler, rel *relation, row []any, at pglogrepl.LSN) error {
	stale := false
	for _, e := range rel.enums {
		v, ok := row[e.index].([]byte)
		if !ok {
			continue // NULL, or an unchanged value that was not sent
		}
		out, err := e.ct.Append(d.scratch[:0], v)
		d.scratch = out[:0]
		if errors.Is(err, schema.ErrPostgresUnrepresentable) {
			d.res.forget(e.oid)
			stale = true
		}
	}
	if !stale {
		return nil
	}
	t, err := d.res.table(ctx, rel.id, rel.cols, rel.keys)
	if err != nil {
		return err
	}
	return d.setTable(ctx, h, rel, t, at)
}

// tuple converts pgoutput tuple data to raw values. Unchanged TOASTed
// values are taken from old when it has them (REPLICA IDENTITY FULL),
// otherwise marked capture.Unchanged.
func (d *decoder) tuple(rel *relation, td *pglogrepl.TupleData, buf *[]any, old []any) ([]any, error) {
	n := len(rel.table.Columns)
	if len(td.Columns) != n {
		return nil, fmt.Errorf("postgres: table %s: tuple has %d columns, relation has %d", rel.id, len(td.Columns), n)
	}
	if cap(*buf) < n {
		*buf = make([]any, n)
	}
	row := (*buf)[:n]
	for i, c := range td.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[i] = nil
		case pglogrepl.TupleDataTypeToast:
			if old != nil && old[i] != nil && old[i] != capture.Unchanged {
				row[i] = old[i]
			} else {
				row[i] = capture.Unchanged
			}
		case pglogrepl.TupleDataTypeText:
			row[i] = c.Data
		default:
			return nil, fmt.Errorf("postgres: table %s column %s: unexpected tuple data type %q", rel.id, rel.table.Columns[i].Name, c.DataType)
		}
	}
	return row, nil
}

func keyChanged(t *schema.Table, before, after []any) bool {
	for _, k := range t.Key {
		b, ok1 := before[k].([]byte)
		a, ok2 := after[k].([]byte)
		if !ok1 || !ok2 {
			continue
		}
		if string(a) != string(b) {
			return true
		}
	}
	return false
}

func (d *decoder) emit(ctx context.Context, h capture.Handler, rel *relation, op capture.Op, before, after []any, lsn pglogrepl.LSN) error {
	c := &d.change
	*c = capture.Change{Op: op, Table: rel.table, Before: before, After: after}
	// lastCommit is the end of the transaction before this one: with the
	// change's LSN it is Debezium's source.sequence.
	c.Source = capture.SourceInfo{TsMs: d.commitTs, TsUs: d.commitUs, DB: d.db, TxID: int64(d.xid), LSN: int64(lsn),
		LastCommitLSN: int64(d.lastCommit), Origin: d.origin, OriginLSN: d.originLSN}
	return h.Change(ctx, c)
}
