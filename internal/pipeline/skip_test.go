package pipeline

import (
	"context"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/capture"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/schema"
)

// TestSkippedOperations: changes of a skipped operation are not produced,
// and the commit after them still moves the checkpoint and the source's
// acknowledged position.
func TestSkippedOperations(t *testing.T) {
	for _, tc := range []struct {
		skip string
		want string // ops produced
	}{
		{"t", "cud"},
		{"", "cudt"},
		{"cd", "ut"},
	} {
		e := setup(t, true)
		e.p.o.SkipOps = tc.skip
		ctx := context.Background()
		upd, del, trunc := *insert("1"), *insert("1"), *insert("1")
		upd.Op, upd.Before = capture.OpUpdate, upd.After
		del.Op, del.Before, del.After = capture.OpDelete, del.After, nil
		trunc.Op, trunc.After = capture.OpTruncate, nil
		for _, c := range []*capture.Change{insert("1"), &upd, &del, &trunc} {
			if err := e.p.Change(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.p.Commit(ctx, checkpoint.Position{LSN: 20}); err != nil {
			t.Fatal(err)
		}
		if got := e.src.last(); got.LSN != 20 {
			t.Errorf("skip %q: source acknowledged %v, want 20", tc.skip, got)
		}
		got := ""
		if err := checkpoint.ReadTopic(ctx, e.opts, "test.public.t", func(r *kgo.Record) error {
			if r.Value != nil {
				got += opOf(t, e.p, r.Value)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("skip %q: ops produced %q, want %q", tc.skip, got, tc.want)
		}
	}
}

// opOf decodes the op of a value record of table.
func opOf(t *testing.T, p *Pipeline, v []byte) string {
	t.Helper()
	codec, err := goavro.NewCodec(p.tables[table].codec.ValueSchema)
	if err != nil {
		t.Fatal(err)
	}
	native, _, err := codec.NativeFromBinary(v[schema.WireHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	op, _ := native.(map[string]any)["op"].(string)
	return op
}
