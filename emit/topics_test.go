package emit

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicsEnsure creates missing topics of different shapes in one
// call, leaves existing ones alone (a new manager meets them as existing,
// no error), and skips a topic named twice.
func TestTopicsEnsure(t *testing.T) {
	c := newCluster(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	specs := []TopicSpec{
		{Name: "a.offsets", Partitions: 1, Configs: OffsetsConfigs},
		{Name: "a.history", Partitions: 1, Configs: HistoryConfigs},
		{Name: "a.table", Partitions: 3},
		{Name: "a.table", Partitions: 3},
		{Name: eventsTopic, Partitions: 3}, // exists already
	}
	if err := NewTopics(cl).Ensure(ctx, specs...); err != nil {
		t.Fatal(err)
	}
	if err := NewTopics(cl).Ensure(ctx, specs...); err != nil {
		t.Fatalf("topics that exist: %v", err)
	}
	td, err := kadm.NewClient(cl).ListTopics(ctx, "a.offsets", "a.history", "a.table")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"a.offsets": 1, "a.history": 1, "a.table": 3} {
		if d, ok := td[name]; !ok || d.Err != nil || len(d.Partitions) != want {
			t.Errorf("topic %s: %+v, want %d partitions", name, d, want)
		}
	}
}
