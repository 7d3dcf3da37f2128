package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// TestRelationKey: the key of a table version is the replica identity
// key the relation message flags as of its position (REPLICA IDENTITY
// DEFAULT), whatever the catalog says today; the catalog only orders
// several flagged columns, or names the primary key where the stream
// carries none (FULL, NOTHING, INDEX).
func TestRelationKey(t *testing.T) {
	tests := []struct {
		name     string
		identity byte
		flagged  []string // of columns a, b, c
		catalog  []string // keyColumns today
		want     []string
		asks     bool // whether the catalog is asked
	}{
		{name: "default/flagged column wins over today's key", identity: 'd', flagged: []string{"a"}, catalog: []string{"c"}, want: []string{"a"}},
		{name: "default/no flagged column means no key", identity: 'd', catalog: []string{"c"}, want: nil},
		{name: "default/catalog orders the same columns", identity: 'd', flagged: []string{"a", "b"}, catalog: []string{"b", "a"}, want: []string{"b", "a"}, asks: true},
		{name: "default/key changed since keeps column order", identity: 'd', flagged: []string{"a", "b"}, catalog: []string{"c", "b"}, want: []string{"a", "b"}, asks: true},
		{name: "full/today's primary key", identity: 'f', flagged: []string{"a", "b", "c"}, catalog: []string{"b"}, want: []string{"b"}, asks: true},
		{name: "full/no primary key means no key", identity: 'f', flagged: []string{"a", "b", "c"}, want: nil, asks: true},
		{name: "full/primary key on a column this version lacks means no key", identity: 'f', flagged: []string{"a", "b", "c"}, catalog: []string{"gone"}, want: nil, asks: true},
		{name: "nothing/today's primary key", identity: 'n', catalog: []string{"c"}, want: []string{"c"}, asks: true},
		{name: "index/today's primary key", identity: 'i', flagged: []string{"b"}, catalog: []string{"a"}, want: []string{"a"}, asks: true},
		{name: "index/flagged index when the catalog's key is gone", identity: 'i', flagged: []string{"b"}, catalog: []string{"gone"}, want: []string{"b"}, asks: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStream(t, 0)
			st.cat.keys[7] = tc.catalog
			var cols []*pglogrepl.RelationMessageColumn
			for _, n := range []string{"a", "b", "c"} {
				cols = append(cols, col(n, oidInt4, slices.Contains(tc.flagged, n)))
			}
			st.txn(1, relMsg(7, "t", tc.identity, cols...))
			sc := st.rec.of("schema")
			if len(sc) != 1 {
				t.Fatalf("%d schema changes, want 1", len(sc))
			}
			if got := keyNames(sc[0].table); !slices.Equal(got, tc.want) {
				t.Errorf("key %v, want %v", got, tc.want)
			}
			for _, c := range sc[0].table.Columns {
				if key := slices.Contains(tc.want, c.Name); c.Nullable == key {
					t.Errorf("column %s: nullable %v, key %v", c.Name, c.Nullable, key)
				}
			}
			if asked := st.cat.keyReads > 0; asked != tc.asks {
				t.Errorf("catalog asked for the key: %v, want %v", asked, tc.asks)
			}
		})
	}
}

// TestPrimaryKeyChangeBetweenRelationMessages: rows before a primary-key
// change are keyed with the key of their position, rows after it with
// the new one, even when (catching up) the catalog already has the new key.
func TestPrimaryKeyChangeBetweenRelationMessages(t *testing.T) {
	st := newStream(t, 0)
	st.cat.keys[7] = []string{"code"} // today's key, already changed
	st.txn(1,
		relMsg(7, "items", 'd', col("id", oidInt4, true), col("code", oidText, false)),
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"), text("A"))},
		&pglogrepl.UpdateMessage{RelationID: 7, NewTuple: tup(text("1"), text("B"))},
	)
	// ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (code)
	st.txn(2,
		relMsg(7, "items", 'd', col("id", oidInt4, false), col("code", oidText, true)),
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("2"), text("C"))},
		&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: pglogrepl.UpdateMessageTupleTypeKey,
			OldTuple: tup(null, text("C")), NewTuple: tup(text("2"), text("D"))},
	)
	var got []string
	for _, e := range st.rec.events {
		switch e.kind {
		case "schema":
			got = append(got, fmt.Sprintf("schema key=%v", keyNames(e.table)))
		case "change":
			got = append(got, fmt.Sprintf("%s key=%v", e.op, keyNames(e.table)))
		}
	}
	want := []string{
		"schema key=[id]", "c key=[id]", "u key=[id]",
		"schema key=[code]", "c key=[code]", "d key=[code]", "c key=[code]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if st.cat.keyReads != 0 {
		t.Errorf("the catalog was asked for the key %d times; single-column keys come from the relation message alone", st.cat.keyReads)
	}
	sc := st.rec.of("schema")
	if len(sc) == 2 && sc[1].pos.LSN <= sc[0].pos.LSN {
		t.Errorf("second version at %s, not after the first at %s", sc[1].pos.LSN, sc[0].pos.LSN)
	}
}

// TestEnumLabelAddedMidStream: ALTER TYPE ... ADD VALUE sends no relation
// message; the first row with the new label makes the decoder read the
// enum's labels again and deliver the new version before that row.
func TestEnumLabelAddedMidStream(t *testing.T) {
	rel := relMsg(7, "moods", 'd', col("id", oidInt4, true), col("m", oidMood, false), col("ms", oidMoodArr, false))
	labelsOf := func(tab *schema.Table) string { return fmt.Sprint(tab.Columns[1].Enum, tab.Columns[2].Elem.Enum) }

	t.Run("scalar", func(t *testing.T) {
		st := newStream(t, 0)
		st.txn(1, rel, &pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"), text("ok"), null)})
		reads := st.cat.typeReads[oidMood]
		st.cat.types[oidMood].enum = append(st.cat.types[oidMood].enum, "happy") // ALTER TYPE mood ADD VALUE 'happy'
		st.txn(2,
			&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("2"), text("happy"), null)},
			&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("3"), text("happy"), null)},
		)
		var kinds []string
		for _, e := range st.rec.events {
			kinds = append(kinds, e.kind)
		}
		if want := []string{"schema", "change", "commit", "schema", "change", "change", "commit"}; !slices.Equal(kinds, want) {
			t.Fatalf("events %v, want %v", kinds, want)
		}
		changes := st.rec.of("change")
		if got := labelsOf(changes[1].table); got != "[sad ok happy] [sad ok happy]" {
			t.Errorf("row with the new label decoded with labels %s", got)
		}
		if changes[1].table != changes[2].table {
			t.Error("the next row with the label made another version")
		}
		if got := st.cat.typeReads[oidMood] - reads; got != 1 {
			t.Errorf("enum labels read %d more times, want 1", got)
		}
		if err := encodes(changes[1].table, 1, "happy"); err != nil {
			t.Error(err)
		}
	})

	t.Run("array", func(t *testing.T) {
		st := newStream(t, 0)
		st.txn(1, rel)
		st.cat.types[oidMood].enum = append(st.cat.types[oidMood].enum, "happy")
		st.txn(2, &pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"), null, text("{sad,happy}"))})
		sc := st.rec.of("schema")
		if len(sc) != 2 {
			t.Fatalf("%d schema changes, want 2", len(sc))
		}
		if got := labelsOf(st.rec.of("change")[0].table); got != "[sad ok happy] [sad ok happy]" {
			t.Errorf("array with the new label decoded with labels %s", got)
		}
	})

	t.Run("label the catalog does not have either", func(t *testing.T) {
		st := newStream(t, 0)
		st.txn(1, rel, &pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"), text("angry"), null)})
		if n := len(st.rec.of("schema")); n != 1 {
			t.Errorf("%d schema changes, want 1: nothing changed", n)
		}
		// The row still goes out, for the encoder to stop the pipeline
		// with a ValueError naming it.
		ch := st.rec.of("change")
		if len(ch) != 1 {
			t.Fatalf("%d changes, want 1", len(ch))
		}
		if err := encodes(ch[0].table, 1, "angry"); !errors.Is(err, schema.ErrPostgresUnrepresentable) {
			t.Errorf("encoding the unknown label: %v, want ErrPostgresUnrepresentable", err)
		}
	})
}

func encodes(t *schema.Table, col int, v string) error {
	ct, err := schema.PostgresColumnType(&t.Columns[col])
	if err != nil {
		return err
	}
	_, err = ct.Append(nil, []byte(v))
	return err
}

// TestRelationMessageRereadsUserTypes: every relation message resolves
// user-defined types (domains, enums) from the catalog again, while
// built-in types, which never change, are read once.
func TestRelationMessageRereadsUserTypes(t *testing.T) {
	st := newStream(t, 0)
	rel := relMsg(7, "t", 'd', col("id", oidInt4, true), col("n", oidDomain, false))
	st.txn(1, rel)
	st.cat.types[oidDomain].base = oidInt8
	st.txn(2, rel)
	sc := st.rec.of("schema")
	if len(sc) != 2 {
		t.Fatalf("%d schema changes, want 2", len(sc))
	}
	if a, b := sc[0].table.Columns[1].Type, sc[1].table.Columns[1].Type; a != "int4" || b != "int8" {
		t.Errorf("domain column resolved to %s then %s, want int4 then int8", a, b)
	}
	if n := st.cat.typeReads[oidDomain]; n != 2 {
		t.Errorf("domain read %d times, want once per relation message", n)
	}
	if n := st.cat.typeReads[oidInt4]; n != 1 {
		t.Errorf("int4 read %d times, want 1", n)
	}
}

// TestUnchangedToastColumns: an unchanged TOASTed value ('u') is never a
// NULL: it is capture.Unchanged, or the old tuple's value when the table
// has REPLICA IDENTITY FULL.
func TestUnchangedToastColumns(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		st := newStream(t, 0)
		st.txn(1,
			relMsg(7, "docs", 'd', col("id", oidInt4, true), col("body", oidText, false), col("n", oidInt4, false)),
			&pglogrepl.UpdateMessage{RelationID: 7, NewTuple: tup(text("1"), unchanged, text("2"))},
		)
		ch := st.rec.of("change")
		if len(ch) != 1 || ch[0].op != capture.OpUpdate || ch[0].before != nil {
			t.Fatalf("changes %+v, want one update without a before image", ch)
		}
		if ch[0].after[1] != capture.Unchanged {
			t.Errorf("unchanged body is %v, want capture.Unchanged", ch[0].after[1])
		}
	})
	t.Run("full", func(t *testing.T) {
		st := newStream(t, 0)
		st.cat.keys[7] = []string{"id"}
		st.txn(1,
			relMsg(7, "docs", 'f', col("id", oidInt4, true), col("body", oidText, true), col("n", oidInt4, true)),
			&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: pglogrepl.UpdateMessageTupleTypeOld,
				OldTuple: tup(text("1"), text("big"), text("1")), NewTuple: tup(text("1"), unchanged, text("2"))},
			&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: pglogrepl.UpdateMessageTupleTypeOld,
				OldTuple: tup(text("1"), unchanged, text("2")), NewTuple: tup(text("1"), unchanged, text("3"))},
		)
		ch := st.rec.of("change")
		if len(ch) != 2 {
			t.Fatalf("%d changes, want 2", len(ch))
		}
		if ch[0].after[1] != "big" || ch[0].before[1] != "big" {
			t.Errorf("body before %v after %v, want the old tuple's value", ch[0].before[1], ch[0].after[1])
		}
		if ch[1].after[1] != capture.Unchanged {
			t.Errorf("body unchanged in both tuples is %v, want capture.Unchanged", ch[1].after[1])
		}
	})
}

// TestTransactionsBeforeStartAreSkipped: a restart receives the
// transactions committed before its checkpoint again; none is delivered
// twice, and their relation messages still count.
func TestTransactionsBeforeStartAreSkipped(t *testing.T) {
	st := newStream(t, 0x10000)
	st.lsn = 0x100
	st.txn(1, relMsg(7, "t", 'd', col("id", oidInt4, true)),
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"))})
	st.lsn = 0x20000
	st.txn(2, &pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("2"))})
	ch := st.rec.of("change")
	if len(ch) != 1 || ch[0].after[0] != "2" {
		t.Fatalf("changes %+v, want only the row of the transaction after the start", ch)
	}
	if c := st.rec.of("commit"); len(c) != 1 || c[0].pos.LSN < 0x10000 {
		t.Errorf("commits %+v, want one after the start", c)
	}
}

// TestMalformedMessages: bytes that are not a whole pgoutput message are
// an error wrapping errMalformed, never a panic or a huge allocation.
func TestMalformedMessages(t *testing.T) {
	insert := wire(&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("12345"))})
	hugeLen := slices.Clone(insert)
	hugeLen[9], hugeLen[10] = 0x7f, 0xff // the column's length
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{'Z', 0, 0}},
		{"insert cut short", insert[:len(insert)-2]},
		{"insert column longer than the message", hugeLen},
		{"insert with an unknown column kind", append(insert[:8:8], 'x')},
		{"update without its new tuple", wire(&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: 'K', OldTuple: tup(text("1")), NewTuple: tup()})[:12]},
		{"truncate of 2^32-1 relations", []byte{'T', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 7}},
		{"relation cut short", wire(relMsg(7, "t", 'd', col("id", oidInt4, true)))[:20]},
		{"begin cut short", wire(&pglogrepl.BeginMessage{})[:10]},
		{"message content cut short", wire(&pglogrepl.LogicalDecodingMessage{Prefix: "p", Content: []byte("abc")})[:17]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStream(t, 0)
			st.feed(relMsg(7, "t", 'd', col("id", oidInt4, true)))
			if err := st.send(tc.data); !errors.Is(err, errMalformed) {
				t.Errorf("error %v, want errMalformed", err)
			}
		})
	}
}

// FuzzDecode feeds two arbitrary messages after a valid prologue (a
// transaction that announced a relation). Decoding must not panic, and
// every change it delivers must fit its table version: as many values as
// columns, key indexes inside the row.
func FuzzDecode(f *testing.F) {
	rel := relMsg(7, "t", 'd', col("id", oidInt4, true), col("m", oidMood, false), col("ms", oidMoodArr, false), col("body", oidText, false))
	seeds := []pglogrepl.Message{
		rel,
		relMsg(7, "t", 'f', col("id", oidInt4, true), col("m", oidMood, true)),
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"), text("ok"), text("{sad}"), null)},
		&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: 'K', OldTuple: tup(text("1"), null, null, null), NewTuple: tup(text("2"), text("sad"), null, unchanged)},
		&pglogrepl.UpdateMessage{RelationID: 7, OldTupleType: 'O', OldTuple: tup(text("1"), text("ok"), null, text("x")), NewTuple: tup(text("1"), text("new"), null, unchanged)},
		&pglogrepl.DeleteMessage{RelationID: 7, OldTupleType: 'K', OldTuple: tup(text("1"), null, null, null)},
		&pglogrepl.TruncateMessage{RelationIDs: []uint32{7}},
		&pglogrepl.CommitMessage{CommitLSN: 0x900, TransactionEndLSN: 0x908},
		&pglogrepl.LogicalDecodingMessage{LSN: 0x1000, Prefix: "sluice.heartbeat"},
	}
	for i, a := range seeds {
		b := seeds[(i+2)%len(seeds)]
		f.Add(wire(a), wire(b))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		st := newStream(t, 0)
		h := &checkingHandler{t: t}
		for _, m := range []pglogrepl.Message{&pglogrepl.BeginMessage{FinalLSN: 0x900, Xid: 1}, rel} {
			if err := st.dec.handle(t.Context(), h, pglogrepl.XLogData{WALStart: 0x100, WALData: wire(m)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, data := range [][]byte{first, second} {
			if err := st.dec.handle(t.Context(), h, pglogrepl.XLogData{WALStart: 0x200, WALData: data}); err != nil {
				return
			}
		}
	})
}

// checkingHandler checks what a decoder delivers against its contract.
type checkingHandler struct {
	t      *testing.T
	tables map[*schema.Table]bool
}

func (h *checkingHandler) Change(_ context.Context, c *capture.Change) error {
	if !h.tables[c.Table] {
		h.t.Fatalf("change of a table version never delivered by SchemaChange")
	}
	n := len(c.Table.Columns)
	for _, row := range [][]any{c.Before, c.After} {
		if row != nil && len(row) != n {
			h.t.Fatalf("row of %d values for %d columns", len(row), n)
		}
	}
	for _, k := range c.Table.Key {
		if k < 0 || k >= n {
			h.t.Fatalf("key index %d of %d columns", k, n)
		}
	}
	return nil
}

func (h *checkingHandler) SchemaChange(_ context.Context, sc *capture.SchemaChange) error {
	if h.tables == nil {
		h.tables = map[*schema.Table]bool{}
	}
	h.tables[sc.Table] = true
	return nil
}

func (h *checkingHandler) Commit(context.Context, checkpoint.Position) error   { return nil }
func (h *checkingHandler) Idle(context.Context, checkpoint.Position) error     { return nil }
func (h *checkingHandler) Watermark(context.Context, *capture.Watermark) error { return nil }
func (h *checkingHandler) Signal(context.Context, *capture.Signal) error       { return nil }

// TestSourceInfoAsDebezium: a change carries the commit time in µs, the
// end of the transaction committed before its own (Debezium's
// sequence[0]) and, for a transaction from another node, its replication
// origin.
func TestSourceInfoAsDebezium(t *testing.T) {
	st := newStream(t, 0)
	st.lsn = 0x100
	st.txn(1, relMsg(7, "t", 'd', col("id", oidInt4, true)),
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("1"))})
	end := st.rec.of("commit")[0].pos.LSN
	st.txn(2, &pglogrepl.OriginMessage{CommitLSN: 0xABC, Name: "node_b"},
		&pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("2"))})
	st.txn(3, &pglogrepl.InsertMessage{RelationID: 7, Tuple: tup(text("3"))})
	ch := st.rec.of("change")
	if len(ch) != 3 {
		t.Fatalf("changes %+v", ch)
	}
	if s := ch[0].src; s.LastCommitLSN != 0 || s.TsUs != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro() || s.Origin != "" {
		t.Errorf("first change source %+v, want no last commit and the commit time in µs", s)
	}
	if s := ch[1].src; s.LastCommitLSN != int64(end) || s.Origin != "node_b" || s.OriginLSN != 0xABC {
		t.Errorf("second change source %+v, want last commit %d and origin node_b/0xABC", s, end)
	}
	if s := ch[2].src; s.Origin != "" || s.OriginLSN != 0 {
		t.Errorf("third change source %+v, want no origin", s)
	}
}
