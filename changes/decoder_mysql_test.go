package changes

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/schema"
)

// TestDecodeMySQLTypes decodes the MySQL types whose Go values differ
// from Postgres': zero dates, DATETIME, TIMESTAMP, TIME, YEAR, BIGINT
// UNSIGNED, SET, JSON and spatial values, with and without logical types.
func TestDecodeMySQLTypes(t *testing.T) {
	point := []byte{0xe6, 0x10, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40}
	cases := []struct {
		col  schema.Column
		in   any
		want any
	}{
		{schema.Column{Type: "date"}, "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{schema.Column{Type: "date"}, "0000-00-00", NegativeInfinity},
		{schema.Column{Type: "datetime"}, "2024-01-02 03:04:05", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{schema.Column{Type: "datetime", Precision: 6}, "2024-01-02 03:04:05.000001", time.Date(2024, 1, 2, 3, 4, 5, 1000, time.UTC)},
		{schema.Column{Type: "datetime"}, "0000-00-00 00:00:00", NegativeInfinity},
		{schema.Column{Type: "timestamp", Precision: 6}, "2024-01-02 03:04:05.5", time.Date(2024, 1, 2, 3, 4, 5, 500000000, time.UTC)},
		{schema.Column{Type: "timestamp"}, "0000-00-00 00:00:00", time.Unix(0, 0).UTC()},
		{schema.Column{Type: "time", Precision: 6}, "-838:59:59", -(838*time.Hour + 59*time.Minute + 59*time.Second)},
		{schema.Column{Type: "year"}, 2024, int32(2024)},
		{schema.Column{Type: "tinyint"}, int8(-3), int16(-3)},
		{schema.Column{Type: "bigint", Unsigned: true}, uint64(math.MaxUint64), new(big.Rat).SetFrac(mustInt("18446744073709551615"), big.NewInt(1))},
		{schema.Column{Type: "set", Enum: []string{"x", "y", "z"}}, int64(5), "x,z"},
		{schema.Column{Type: "json"}, `{"b":1,"a":2}`, json.RawMessage(`{"a":2,"b":1}`)},
		{schema.Column{Type: "geometry"}, point, Geometry{WKB: point[4:], SRID: ptr(int32(4326))}},
	}
	tbl := &schema.Table{ID: schema.TableID{Namespace: "shop", Name: "types"}, Key: []int{0},
		Columns: []schema.Column{{Name: "id", Type: "int"}}}
	row := []any{int32(1)}
	for i, c := range cases {
		c.col.Name, c.col.Nullable = colName(i), true
		tbl.Columns = append(tbl.Columns, c.col)
		row = append(row, c.in)
	}
	for _, noLogical := range []bool{false, true} {
		_, reg, cl := newRegistry(t)
		st := newSluiceTopic(t, reg, "demo.shop.types", tbl, schema.MySQL, noLogical)
		ev, err := NewDecoder(cl).Decode(context.Background(), st.record(t, 'c', nil, row,
			&schema.SourceInfo{TsMs: 9, DB: "shop", ServerID: 3, GTID: "g:1", File: "bin.000002", Pos: 400, Row: 1, Thread: 8}))
		if err != nil {
			t.Fatalf("noLogical=%v: %v", noLogical, err)
		}
		for i, c := range cases {
			got := ev.After[colName(i)]
			ok := same(got, c.want)
			if g, isGeo := got.(Geometry); isGeo {
				w := c.want.(Geometry)
				ok = string(g.WKB) == string(w.WKB) && g.SRID != nil && *g.SRID == *w.SRID
			}
			if !ok {
				t.Errorf("noLogical=%v: %s %v: got %#v (%T), want %#v", noLogical, c.col.Type, c.in, got, got, c.want)
			}
		}
		s := ev.Source
		if s.ServerID != 3 || s.GTID != "g:1" || s.File != "bin.000002" || s.Pos != 400 || s.Row != 1 || s.Thread != 8 || s.Table != "types" || s.DB != "shop" {
			t.Errorf("source %+v", s)
		}
	}
}

func ptr[T any](v T) *T { return &v }
