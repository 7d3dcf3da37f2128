package mysql

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/big"
	"reflect"
	"slices"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/schema"
	"github.com/sluicecdc/sluice/snapshot"
)

// TestKeyText pins, per key type, that a chunk's row (the server's text
// through FromText) and the stream's change (the value go-mysql decodes
// from the binlog) of the same key render to the same key text, the
// snapshot engine's identity of a row [S2].
func TestKeyText(t *testing.T) {
	col := func(typ string, unsigned bool, length int) schema.Column {
		return schema.Column{Name: "k", Type: typ, Unsigned: unsigned, Precision: 20, Scale: 6, Length: length}
	}
	for _, tc := range []struct {
		name   string
		col    schema.Column
		text   string // the server's text of the key
		binlog any    // go-mysql's value of it
	}{
		{"int", col("int", false, 0), "-7", int32(-7)},
		{"int unsigned", col("int", true, 0), "4294967295", int32(-1)},
		{"tinyint", col("tinyint", false, 0), "12", int8(12)},
		{"smallint unsigned", col("smallint", true, 0), "65535", int16(-1)},
		{"mediumint", col("mediumint", false, 0), "-8388608", int32(-8388608)},
		{"bigint", col("bigint", false, 0), "-9223372036854775808", int64(math.MinInt64)},
		{"bigint unsigned", col("bigint", true, 0), "18446744073709551615", int64(-1)},
		{"varchar", col("varchar", false, 40), "café", "café"},
		{"char", col("char", false, 40), "ab", "ab"},
		{"varbinary", col("varbinary", false, 8), "\x00\x01\xff", "\x00\x01\xff"},
		{"binary padded", col("binary", false, 4), "ab\x00\x00", "ab"},
		{"binary full", col("binary", false, 4), "abcd", "abcd"},
		{"binary zero", col("binary", false, 2), "\x00\x00", ""},
		{"decimal", col("decimal", false, 0), "-12345.678900", "-12345.678900"},
		{"date", col("date", false, 0), "2024-02-29", "2024-02-29"},
		{"datetime(6)", schema.Column{Name: "k", Type: "datetime", Precision: 6}, "2020-01-02 03:04:05.123456", "2020-01-02 03:04:05.123456"},
		{"timestamp", schema.Column{Name: "k", Type: "timestamp"}, "2020-01-02 03:04:05", "2020-01-02 03:04:05"},
		{"time(3)", schema.Column{Name: "k", Type: "time", Precision: 3}, "-838:59:59.000", "-838:59:59.000"},
		{"year", col("year", false, 0), "2024", 2024},
		{"bit", schema.Column{Name: "k", Type: "bit", Length: 16}, "\x01\x00", int64(256)},
		{"enum", schema.Column{Name: "k", Type: "enum", Enum: []string{"a", "b"}}, "2", int64(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := &schema.Table{ID: schema.TableID{Namespace: "d", Name: "t"}, Columns: []schema.Column{tc.col}, Key: []int{0}}
			v, err := FromText(&tbl.Columns[0], []byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			chunk, stream := []any{v}, []any{tc.binlog}
			NormalizeKey(tbl, chunk)
			NormalizeKey(tbl, stream)
			if a, b := snapshot.KeyText(tbl, chunk), snapshot.KeyText(tbl, stream); a != b {
				t.Errorf("chunk key text %q, stream key text %q", a, b)
			}
			// The normalised value encodes as the value did.
			ct, err := schema.MySQLColumnType(&tbl.Columns[0])
			if err != nil {
				t.Fatal(err)
			}
			a, errA := ct.Append(nil, chunk[0])
			b, errB := ct.Append(nil, v)
			if errA != nil || errB != nil || string(a) != string(b) {
				t.Errorf("normalised value encodes as % x (%v), the value as % x (%v)", a, errA, b, errB)
			}
		})
	}
}

func TestChunkQuery(t *testing.T) {
	one := &schema.Table{ID: schema.TableID{Namespace: "d", Name: "t"},
		Columns: []schema.Column{{Name: "id", Type: "bigint"}, {Name: "f", Type: "float"}}, Key: []int{0}}
	dec := &schema.Table{ID: schema.TableID{Namespace: "d", Name: "t"}, Columns: []schema.Column{{Name: "d", Type: "decimal"}}, Key: []int{0}}
	two := &schema.Table{ID: schema.TableID{Namespace: "d", Name: "t`x"},
		Columns: []schema.Column{{Name: "a", Type: "int"}, {Name: "b", Type: "varchar"}, {Name: "v", Type: "int"}}, Key: []int{1, 0}}
	for _, tc := range []struct {
		name           string
		t              *schema.Table
		after, through []string
		q              string
		args           []any
	}{
		{"first chunk", one, nil, []string{"9"},
			"SELECT `id`, (`f` * 1e0), `id` FROM `d`.`t` WHERE `id` <= 9 ORDER BY `id` LIMIT 10", nil},
		{"next chunk", one, []string{"3"}, []string{"-9"},
			"SELECT `id`, (`f` * 1e0), `id` FROM `d`.`t` WHERE `id` > 3 AND `id` <= -9 ORDER BY `id` LIMIT 10", nil},
		{"not a plain number", one, []string{"3"}, []string{"9e3"},
			"SELECT `id`, (`f` * 1e0), `id` FROM `d`.`t` WHERE `id` > ? AND `id` <= ? ORDER BY `id` LIMIT 10", []any{"3", "9e3"}},
		{"decimal", dec, []string{"1.50"}, []string{"22"},
			"SELECT `d`, `d` FROM `d`.`t` WHERE `d` > 1.50 AND `d` <= 22 ORDER BY `d` LIMIT 10", nil},
		{"composite key", two, []string{"x", "1"}, []string{"y", "2"},
			"SELECT `a`, `b`, `v`, `b`, `a` FROM `d`.`t``x` WHERE (`b`, `a`) > (?, ?) AND (`b`, `a`) <= (?, ?) ORDER BY `b`, `a` LIMIT 10",
			[]any{"x", "1", "y", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := chunkQuery(tc.t, tc.after, tc.through, 10)
			if q != tc.q || !reflect.DeepEqual(args, tc.args) {
				t.Errorf("got  %s %v\nwant %s %v", q, args, tc.q, tc.args)
			}
		})
	}
}

func TestSnapshotRefusesTableWithoutKey(t *testing.T) {
	tbl := &schema.Table{ID: schema.TableID{Namespace: "d", Name: "log"}, Columns: []schema.Column{{Name: "v", Type: "int"}}}
	err := snapshotable(tbl)
	var se *capture.SetupError
	if !errors.Is(err, ErrNoPrimaryKey) || !errors.As(err, &se) {
		t.Fatalf("got %v, want a SetupError wrapping ErrNoPrimaryKey", err)
	}
}

func TestParseSignalTable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want schema.TableID
		ok   bool
	}{
		{"", schema.TableID{Namespace: "sluice", Name: "sluice_signal"}, true},
		{"ops.signals", schema.TableID{Namespace: "ops", Name: "signals"}, true},
		{"nodot", schema.TableID{}, false},
		{"a.b.c", schema.TableID{}, false},
		{".b", schema.TableID{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSignalTable(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %v, %v; want %v (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestSignalRows: signal-table inserts become watermarks and requests,
// inside their transaction, and a transaction read again after a
// reconnect does not hand them over twice.
func TestSignalRows(t *testing.T) {
	s := newSource(Config{Conn: &ConnConfig{}, Logger: slog.New(slog.DiscardHandler)})
	s.srv = &Server{Flavor: FlavorMariaDB}
	rec := &recorder{}
	rows := [][]any{
		{"inv/ab/1/l", "watermark", nil},
		{"request/1", "snapshot", []byte(`{"name":"inv"}`)},
		{int32(1), "watermark", nil}, // not of the table's shape: skipped
	}
	if err := s.signalRows(context.Background(), rec, rows); err != nil {
		t.Fatal(err)
	}
	if len(rec.watermarks) != 1 || rec.watermarks[0].ID != "inv/ab/1/l" || !rec.watermarks[0].Position.IsZero() {
		t.Errorf("watermarks %+v", rec.watermarks)
	}
	if len(rec.signals) != 1 || string(rec.signals[0].Payload) != `{"name":"inv"}` {
		t.Errorf("signals %+v", rec.signals)
	}
	if !s.txn.active || s.txn.delivered != 2 {
		t.Errorf("transaction %+v: want active with 2 delivered", s.txn)
	}
	// Read again after a reconnect: both were delivered.
	s.skip, s.txn = s.txn.delivered, txn{}
	if err := s.signalRows(context.Background(), rec, rows[:2]); err != nil {
		t.Fatal(err)
	}
	if len(rec.watermarks) != 1 || len(rec.signals) != 1 || s.skip != 0 {
		t.Errorf("after the replay: %d watermarks, %d signals, skip %d", len(rec.watermarks), len(rec.signals), s.skip)
	}
}

// TestSignalTableDDLMakesNoSchemaChange: the statements Sluice runs to
// create the signal table are not the application's DDL.
func TestSignalTableDDLMakesNoSchemaChange(t *testing.T) {
	s := capturedSource(t, "3e11fa47-71ca-11e1-9e33-c80aa9429562")
	s.signal = schema.TableID{Namespace: "sluice", Name: "sluice_signal"}
	rec := &recorder{}
	stmts := append(SignalTableDDL(s.signal), "CREATE TABLE shop.t (id int PRIMARY KEY)")
	for i, q := range stmts {
		ev := &replication.BinlogEvent{Header: &replication.EventHeader{LogPos: uint32(1000 + i*100)},
			Event: &replication.QueryEvent{Query: []byte(q), Schema: []byte("shop")}}
		if err := s.handle(context.Background(), rec, ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.schemas) != 1 || rec.schemas[0].DDL != stmts[2] {
		t.Errorf("schema changes %+v, want only the application's CREATE TABLE", rec.schemas)
	}
	if len(rec.commits) != 3 {
		t.Errorf("%d commits, want one per statement", len(rec.commits))
	}
}

func TestPlainNumber(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "-12": true, "1.5": true, "18446744073709551615": true,
		"": false, "-": false, "1.": false, ".5": false, "1e3": false, "0x1F": false, "1 OR 1": false, "1'": false, "--1": false} {
		if got := plainNumber(s); got != want {
			t.Errorf("plainNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestEvenCuts(t *testing.T) {
	cut := func(lo, hi int64, n int) []string {
		var out []string
		for _, k := range evenCuts(big.NewInt(lo), big.NewInt(hi), n) {
			out = append(out, k[0])
		}
		return out
	}
	for _, c := range []struct {
		lo, hi int64
		n      int
		want   []string
	}{
		{1, 100, 4, []string{"25", "50", "75"}},
		{-10, 10, 2, []string{"0"}},
		{5, 6, 4, []string{"5"}}, // fewer cuts than asked, no repeats
		{7, 7, 3, nil},
	} {
		if got := cut(c.lo, c.hi, c.n); !slices.Equal(got, c.want) {
			t.Errorf("evenCuts(%d, %d, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
		}
	}
	// Unsigned BIGINT beyond int64.
	hi, _ := new(big.Int).SetString("18446744073709551615", 10)
	if got := evenCuts(big.NewInt(0), hi, 2); len(got) != 1 || got[0][0] != "9223372036854775807" {
		t.Errorf("evenCuts over the unsigned range = %v", got)
	}
}
