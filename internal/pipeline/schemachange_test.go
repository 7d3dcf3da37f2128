package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// A DDL statement becomes a schema-change event on the topic <name> and a
// schema-history record, committed with the checkpoint that follows it
// [I6]; a table version (no DDL) makes a history record only.
func TestSchemaChangeEvent(t *testing.T) {
	for _, eos := range []bool{false, true} {
		e := setup(t, eos)
		ctx := context.Background()
		pos := checkpoint.Position{File: "mysql-bin.000001", Pos: 500, GTIDSet: "0-1-7"}
		if err := e.p.SchemaChange(ctx, &capture.SchemaChange{DDL: "ALTER TABLE t ADD c int", Database: "shop", Position: pos, TsMs: 3}); err != nil {
			t.Fatal(err)
		}
		if err := e.p.SchemaChange(ctx, &capture.SchemaChange{Table: table, Database: "shop", Position: pos}); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Commit(ctx, pos); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		if err := checkpoint.ReadTopic(ctx, e.opts, SchemaChangeTopic("test"), func(r *kgo.Record) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("eos=%v: %d schema-change records, want 1", eos, len(recs))
		}
		codec, err := schema.NewMySQLSchemaChangeCodec("test", "test", "mysql")
		if err != nil {
			t.Fatal(err)
		}
		vc, _ := goavro.NewCodec(codec.ValueSchema)
		v, _, err := vc.NativeFromBinary(recs[0].Value[schema.WireHeaderLen:])
		if err != nil {
			t.Fatal(err)
		}
		if ddl := v.(map[string]any)["ddl"].(map[string]any)["string"]; ddl != "ALTER TABLE t ADD c int" {
			t.Errorf("eos=%v: ddl %v", eos, ddl)
		}
		n, ddls := 0, 0
		if err := checkpoint.ReadTopic(ctx, e.opts, HistoryTopic("test"), func(r *kgo.Record) error {
			n++
			if strings.Contains(string(r.Value), `"ddl":"ALTER TABLE t ADD c int"`) {
				ddls++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != 2 || ddls != 1 {
			t.Errorf("eos=%v: %d history records (%d with the DDL), want 2 (1)", eos, n, ddls)
		}
	}
}
