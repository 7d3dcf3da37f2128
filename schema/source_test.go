package schema

import (
	"encoding/json"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// TestEnvelopeGolden: the envelope and source block of each connector as
// Debezium 3.x registers them through Confluent's AvroConverter.
func TestEnvelopeGolden(t *testing.T) {
	tbl := &Table{ID: TableID{Namespace: "public", Name: "t"}, Key: []int{0},
		Columns: []Column{{Name: "id", Type: "int4", TypeMod: -1}}}
	myTbl := &Table{ID: TableID{Namespace: "db", Name: "t"}, Key: []int{0},
		Columns: []Column{{Name: "id", Type: "int"}}}
	for _, tc := range []struct {
		golden string
		t      *Table
		o      CodecOptions
	}{
		{"envelope_postgresql.avsc", tbl, CodecOptions{Kind: Postgres, Name: "inv"}},
		{"envelope_mysql.avsc", myTbl, CodecOptions{Kind: MySQL, Name: "inv"}},
		{"envelope_mariadb.avsc", myTbl, CodecOptions{Kind: MySQL, Name: "inv", Connector: "mariadb"}},
	} {
		c, err := NewCodec("inv.x.t", tc.t, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(c.ValueSchema), &v); err != nil {
			t.Fatal(err)
		}
		js, _ := json.MarshalIndent(v, "", "  ")
		assertGolden(t, tc.golden, append(js, '\n'))
	}
}

// TestSourceBlock: connector names, sequence, ts_us and ts_ns.
func TestSourceBlock(t *testing.T) {
	tbl := &Table{ID: TableID{Namespace: "public", Name: "t"}, Key: []int{0},
		Columns: []Column{{Name: "id", Type: "int4", TypeMod: -1}}}
	c, err := NewCodec("inv.public.t", tbl, CodecOptions{Kind: Postgres, Name: "inv"})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(c.ValueSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src     SourceInfo
		seq     string
		us, ns  int64
		snap    string
		txID    any
		envUs   int64
		evTsUs  int64
		evTsMs  int64
		wantEnv int64
	}{
		{src: SourceInfo{TsMs: 1700000000123, TsUs: 1700000000123456, TxID: 750, LSN: 24023128, LastCommitLSN: 24023000, Origin: "node_b", OriginLSN: 77},
			seq: `["24023000","24023128"]`, us: 1700000000123456, ns: 1700000000123456000, snap: "false", txID: int64(750),
			evTsMs: 5, evTsUs: 5001, wantEnv: 5001},
		{src: SourceInfo{TsMs: 1700000000123, LSN: 24023128, Snapshot: "first_in_data_collection"},
			seq: `[null,"24023128"]`, us: 1700000000123000, ns: 1700000000123000000, snap: "first_in_data_collection", txID: nil,
			evTsMs: 5, wantEnv: 5000},
	} {
		buf, err := c.AppendValue(nil, &Event{Op: 'c', After: []any{[]byte("1")}, Source: &tc.src, TsMs: tc.evTsMs, TsUs: tc.evTsUs})
		if err != nil {
			t.Fatal(err)
		}
		v, rest, err := codec.NativeFromBinary(buf)
		if err != nil || len(rest) != 0 {
			t.Fatalf("decode: %v (%d bytes left)", err, len(rest))
		}
		env := v.(map[string]any)
		src := env["source"].(map[string]any)
		if src["connector"] != "postgresql" || pgNormalize(src["sequence"]) != tc.seq || pgNormalize(src["ts_us"]) != tc.us ||
			pgNormalize(src["ts_ns"]) != tc.ns || pgNormalize(src["snapshot"]) != tc.snap || pgNormalize(src["txId"]) != tc.txID {
			t.Errorf("source block %v", src)
		}
		if tc.src.Origin != "" && (pgNormalize(src["origin"]) != tc.src.Origin || pgNormalize(src["origin_lsn"]) != tc.src.OriginLSN) ||
			tc.src.Origin == "" && (src["origin"] != nil || src["origin_lsn"] != nil) {
			t.Errorf("origin %v origin_lsn %v, want %q %d", src["origin"], src["origin_lsn"], tc.src.Origin, tc.src.OriginLSN)
		}
		if pgNormalize(env["ts_us"]) != tc.wantEnv || pgNormalize(env["ts_ns"]) != tc.wantEnv*1000 {
			t.Errorf("envelope ts_us %v ts_ns %v, want %d µs", env["ts_us"], env["ts_ns"], tc.wantEnv)
		}
	}
}
