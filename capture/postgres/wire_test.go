package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// This file builds pgoutput (protocol version 1) wire messages from
// pglogrepl's message types, and fakes what the decoder needs around
// them: the catalog and the handler.

// wire encodes m as pgoutput sends it in an XLogData message.
func wire(m pglogrepl.Message) []byte {
	var b []byte
	u16 := func(v uint16) { b = binary.BigEndian.AppendUint16(b, v) }
	u32 := func(v uint32) { b = binary.BigEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.BigEndian.AppendUint64(b, v) }
	str := func(s string) { b = append(append(b, s...), 0) }
	pgTime := func(t time.Time) { u64(uint64(t.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds())) }
	tuple := func(td *pglogrepl.TupleData) {
		u16(uint16(len(td.Columns)))
		for _, c := range td.Columns {
			b = append(b, c.DataType)
			if c.DataType == pglogrepl.TupleDataTypeText || c.DataType == pglogrepl.TupleDataTypeBinary {
				u32(uint32(len(c.Data)))
				b = append(b, c.Data...)
			}
		}
	}
	switch m := m.(type) {
	case *pglogrepl.BeginMessage:
		b = append(b, 'B')
		u64(uint64(m.FinalLSN))
		pgTime(m.CommitTime)
		u32(m.Xid)
	case *pglogrepl.OriginMessage:
		b = append(b, 'O')
		u64(uint64(m.CommitLSN))
		str(m.Name)
	case *pglogrepl.CommitMessage:
		b = append(b, 'C', m.Flags)
		u64(uint64(m.CommitLSN))
		u64(uint64(m.TransactionEndLSN))
		pgTime(m.CommitTime)
	case *pglogrepl.RelationMessage:
		b = append(b, 'R')
		u32(m.RelationID)
		str(m.Namespace)
		str(m.RelationName)
		b = append(b, m.ReplicaIdentity)
		u16(uint16(len(m.Columns)))
		for _, c := range m.Columns {
			b = append(b, c.Flags)
			str(c.Name)
			u32(c.DataType)
			u32(uint32(c.TypeModifier))
		}
	case *pglogrepl.InsertMessage:
		b = append(b, 'I')
		u32(m.RelationID)
		b = append(b, 'N')
		tuple(m.Tuple)
	case *pglogrepl.UpdateMessage:
		b = append(b, 'U')
		u32(m.RelationID)
		if m.OldTuple != nil {
			b = append(b, m.OldTupleType)
			tuple(m.OldTuple)
		}
		b = append(b, 'N')
		tuple(m.NewTuple)
	case *pglogrepl.DeleteMessage:
		b = append(b, 'D')
		u32(m.RelationID)
		b = append(b, m.OldTupleType)
		tuple(m.OldTuple)
	case *pglogrepl.TruncateMessage:
		b = append(b, 'T')
		u32(uint32(len(m.RelationIDs)))
		b = append(b, m.Option)
		for _, id := range m.RelationIDs {
			u32(id)
		}
	case *pglogrepl.LogicalDecodingMessage:
		flags := byte(0)
		if m.Transactional {
			flags = 1
		}
		b = append(b, 'M', flags)
		u64(uint64(m.LSN))
		str(m.Prefix)
		u32(uint32(len(m.Content)))
		b = append(b, m.Content...)
	default:
		panic(fmt.Sprintf("wire: %T", m))
	}
	return b
}

// Values of tuple columns: text, NULL, and an unchanged TOASTed value.
func text(s string) *pglogrepl.TupleDataColumn {
	return &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeText, Data: []byte(s)}
}

var (
	null      = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeNull}
	unchanged = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeToast}
)

func tup(cols ...*pglogrepl.TupleDataColumn) *pglogrepl.TupleData {
	return &pglogrepl.TupleData{ColumnNum: uint16(len(cols)), Columns: cols}
}

// col is a relation message column; key sets the flag of the replica
// identity key.
func col(name string, oid uint32, key bool) *pglogrepl.RelationMessageColumn {
	c := &pglogrepl.RelationMessageColumn{Name: name, DataType: oid, TypeModifier: -1}
	if key {
		c.Flags = 1
	}
	return c
}

func relMsg(relid uint32, name string, identity byte, cols ...*pglogrepl.RelationMessageColumn) *pglogrepl.RelationMessage {
	return &pglogrepl.RelationMessage{RelationID: relid, Namespace: "public", RelationName: name,
		ReplicaIdentity: identity, ColumnNum: uint16(len(cols)), Columns: cols}
}

// Built-in type OIDs, and user-defined ones the fake catalog knows.
const (
	oidBool    = 16
	oidInt8    = 20
	oidInt4    = 23
	oidText    = 25
	oidMood    = 16500 // enum mood
	oidMoodArr = 16501 // _mood
	oidDomain  = 16600 // domain over int4 (or whatever the test makes it)
)

// fakeCatalog answers catalogLookup from maps a test may change between
// messages, as DDL changes the real catalog, and counts the lookups.
type fakeCatalog struct {
	types     map[uint32]*typeInfo
	keys      map[uint32][]string
	typeReads map[uint32]int
	keyReads  int
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{
		types: map[uint32]*typeInfo{
			oidBool:    {name: "bool", kind: "b"},
			oidInt8:    {name: "int8", kind: "b"},
			oidInt4:    {name: "int4", kind: "b"},
			oidText:    {name: "text", kind: "b"},
			oidMood:    {name: "mood", kind: "e", enum: []string{"sad", "ok"}},
			oidMoodArr: {name: "_mood", kind: "b", elem: oidMood},
			oidDomain:  {name: "posint", kind: "d", base: oidInt4, baseMod: -1},
		},
		keys:      map[uint32][]string{},
		typeReads: map[uint32]int{},
	}
}

func (f *fakeCatalog) typeDef(_ context.Context, oid uint32) (*typeInfo, error) {
	f.typeReads[oid]++
	t, ok := f.types[oid]
	if !ok {
		return nil, fmt.Errorf("fake catalog: no type %d", oid)
	}
	c := *t
	c.enum = append([]string(nil), t.enum...)
	return &c, nil
}

func (f *fakeCatalog) keyColumns(_ context.Context, relid uint32) ([]string, error) {
	f.keyReads++
	return f.keys[relid], nil
}

// event is one call the decoder made on its handler, with the rows
// copied (the decoder reuses its buffers).
type event struct {
	kind   string // "schema", "change", "commit", "idle"
	table  *schema.Table
	op     capture.Op
	before []any
	after  []any
	pos    checkpoint.Position
	lsn    int64
	src    capture.SourceInfo
}

type recorder struct{ events []event }

func copyRow(r []any) []any {
	if r == nil {
		return nil
	}
	out := make([]any, len(r))
	for i, v := range r {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		out[i] = v
	}
	return out
}

func (r *recorder) Change(_ context.Context, c *capture.Change) error {
	r.events = append(r.events, event{kind: "change", table: c.Table, op: c.Op, before: copyRow(c.Before), after: copyRow(c.After), lsn: c.Source.LSN, src: c.Source})
	return nil
}

func (r *recorder) SchemaChange(_ context.Context, sc *capture.SchemaChange) error {
	r.events = append(r.events, event{kind: "schema", table: sc.Table, pos: sc.Position})
	return nil
}

func (r *recorder) Commit(_ context.Context, pos checkpoint.Position) error {
	r.events = append(r.events, event{kind: "commit", pos: pos})
	return nil
}

func (r *recorder) Idle(_ context.Context, pos checkpoint.Position) error {
	r.events = append(r.events, event{kind: "idle", pos: pos})
	return nil
}

func (r *recorder) Watermark(_ context.Context, w *capture.Watermark) error {
	r.events = append(r.events, event{kind: "watermark:" + w.ID, pos: w.Position})
	return nil
}

func (r *recorder) Signal(_ context.Context, sg *capture.Signal) error {
	r.events = append(r.events, event{kind: "signal:" + string(sg.Payload)})
	return nil
}

// of returns the recorded events of one kind.
func (r *recorder) of(kind string) []event {
	var out []event
	for _, e := range r.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// stream is a decoder fed with wire messages at increasing positions.
type stream struct {
	t   testing.TB
	dec *decoder
	cat *fakeCatalog
	rec *recorder
	lsn pglogrepl.LSN
}

func newStream(t testing.TB, start checkpoint.LSN) *stream {
	st := &stream{t: t, dec: &decoder{}, cat: newFakeCatalog(), rec: &recorder{}, lsn: pglogrepl.LSN(start) + 0x100}
	st.dec.init(st.cat, &Filter{}, "app", true, start)
	return st
}

// feed sends the messages at the next positions, failing the test on an
// error.
func (st *stream) feed(msgs ...pglogrepl.Message) {
	st.t.Helper()
	for _, m := range msgs {
		if err := st.send(wire(m)); err != nil {
			st.t.Fatalf("%T: %v", m, err)
		}
	}
}

// send decodes one raw message at the next position.
func (st *stream) send(data []byte) error {
	st.lsn += 0x10
	return st.dec.handle(context.Background(), st.rec, pglogrepl.XLogData{WALStart: st.lsn, ServerWALEnd: st.lsn, WALData: data})
}

// txn wraps msgs in a transaction committing after them.
func (st *stream) txn(xid uint32, msgs ...pglogrepl.Message) {
	st.t.Helper()
	commit := st.lsn + pglogrepl.LSN(0x10*(len(msgs)+2))
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	all := append([]pglogrepl.Message{&pglogrepl.BeginMessage{FinalLSN: commit, CommitTime: ts, Xid: xid}}, msgs...)
	all = append(all, &pglogrepl.CommitMessage{CommitLSN: commit, TransactionEndLSN: commit + 8, CommitTime: ts})
	st.feed(all...)
}

// keyNames names the key columns of t in key order.
func keyNames(t *schema.Table) []string {
	var out []string
	for _, k := range t.Key {
		out = append(out, t.Columns[k].Name)
	}
	return out
}
