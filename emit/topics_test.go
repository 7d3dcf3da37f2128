package emit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// TestTopicsEnsureShared: concurrent Ensure calls for one topic make one
// CreateTopics request; a caller whose ctx ends stops waiting and does not
// cancel the request the other waits for, which then knows the topic.
func TestTopicsEnsureShared(t *testing.T) {
	c := newCluster(t)
	var requests atomic.Int32
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.CreateTopics), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		requests.Add(1)
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
		return nil, nil, false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics := NewTopics(cl)
	ensure := func(ctx context.Context) <-chan error {
		ch := make(chan error, 1)
		go func() { ch <- topics.Ensure(ctx, TopicSpec{Name: "b.table", Partitions: 2}) }()
		return ch
	}
	cancelled, cancel := context.WithCancel(context.Background())
	first := ensure(cancelled)
	<-held
	other := ensure(context.Background())
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrKafka) {
		t.Errorf("cancelled caller: %v; want the Kafka error with context.Canceled", err)
	}
	close(release)
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d CreateTopics requests, want 1", n)
	}
	if err := topics.Ensure(context.Background(), TopicSpec{Name: "b.table", Partitions: 2}); err != nil || requests.Load() != 1 {
		t.Errorf("again: %v, %d requests", err, requests.Load())
	}
	td, err := kadm.NewClient(cl).ListTopics(context.Background(), "b.table")
	if err != nil || td["b.table"].Err != nil || len(td["b.table"].Partitions) != 2 {
		t.Errorf("topic: %+v, %v", td["b.table"], err)
	}
}
