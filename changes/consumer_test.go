package changes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicecdc/sluice/schema"
)

const topic = "demo.public.items"

var itemsTable = &schema.Table{ID: schema.TableID{Namespace: "public", Name: "items"}, Key: []int{0}, Columns: []schema.Column{
	{Name: "id", Type: "int4", TypeMod: -1},
	{Name: "name", Type: "text", TypeMod: -1, Nullable: true},
}}

// fixture is an in-process Kafka cluster and registry holding a change
// topic with two partitions, written as Sluice writes it.
type fixture struct {
	cluster *kfake.Cluster
	reg     *sr.Client
	st      *sluiceTopic
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic, "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, reg, cl := newRegistry(t)
	return &fixture{cluster: c, reg: cl, st: newSluiceTopic(t, reg, topic, itemsTable, schema.Postgres, false)}
}

func (f *fixture) config(group string) Config {
	return Config{Brokers: f.cluster.ListenAddrs(), Group: group, Topics: []string{topic}, Registry: f.reg, MaxPollRecords: 3}
}

// produce writes records in one Kafka transaction, committed or aborted,
// as Sluice's exactly-once producer does.
func (f *fixture) produce(t *testing.T, commit bool, rs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.ListenAddrs()...), kgo.TransactionalID("sluice-demo"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) item(t *testing.T, id int) *kgo.Record {
	return f.st.record(t, 'c', nil, []any{[]byte(fmt.Sprint(id)), []byte(fmt.Sprint("item ", id))}, nil)
}

// committed returns the group's committed offset of each partition.
func (f *fixture) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// runUntil runs c until stop returns true for a handled event, then
// cancels; it returns Run's error.
func runUntil(t *testing.T, c *Consumer, h Handler) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Run(ctx, func(ctx context.Context, e *Event) error {
		err := h(ctx, e)
		if errors.Is(err, errStop) {
			cancel()
			return nil
		}
		return err
	})
}

var errStop = errors.New("stop")

// TestConsumerAtLeastOnce: a handler failure stops Run with the failed
// record's offset uncommitted and every earlier one committed; the next
// consumer of the group starts at the failed record, so nothing is lost
// and only the failed record is seen twice. Records of an aborted Sluice
// transaction are never seen (read_committed), tombstones are.
func TestConsumerAtLeastOnce(t *testing.T) {
	f := newFixture(t)
	var recs []*kgo.Record
	for id := 1; id <= 20; id++ {
		recs = append(recs, f.item(t, id))
	}
	f.produce(t, true, recs[:10]...)
	f.produce(t, false, f.item(t, 999)) // aborted: never delivered
	del := f.st.record(t, 'd', []any{[]byte("3"), nil}, nil, nil)
	f.produce(t, true, append(recs[10:], del, f.st.tombstone(t, []any{[]byte("3")}))...)
	total := len(recs) + 2

	seen := map[string]int{}
	var mu sync.Mutex
	note := func(e *Event) string {
		k := fmt.Sprintf("%s:%v", e.Kind, e.Key["id"])
		if e.Kind == KindChange {
			k = fmt.Sprintf("%s:%v", e.Op, e.Key["id"])
		}
		mu.Lock()
		seen[k]++
		mu.Unlock()
		return k
	}
	c1, err := NewConsumer(f.config("svc"))
	if err != nil {
		t.Fatal(err)
	}
	failAt := "c:7"
	handled := 0
	err = c1.Run(context.Background(), func(ctx context.Context, e *Event) error {
		if k := note(e); k == failAt {
			return errors.New("database unavailable")
		}
		handled++
		return nil
	})
	c1.Close()
	var he *HandlerError
	if !errors.As(err, &he) || he.Topic != topic || he.Err.Error() != "database unavailable" {
		t.Fatalf("Run: %v, want a HandlerError", err)
	}
	if err := c1.Run(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("second Run: %v, want ErrClosed", err)
	}
	if got := f.committed(t, "svc")[he.Partition]; got != he.Offset {
		t.Errorf("committed offset of partition %d = %d, want the failed record's %d", he.Partition, got, he.Offset)
	}

	c2, err := NewConsumer(f.config("svc"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	n := 0
	if err := runUntil(t, c2, func(ctx context.Context, e *Event) error {
		note(e)
		if n++; handled+n == total {
			return errStop
		}
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	for id := 1; id <= 20; id++ {
		want := 1
		if fmt.Sprintf("c:%d", id) == failAt {
			want = 2
		}
		if got := seen[fmt.Sprintf("c:%d", id)]; got != want {
			t.Errorf("item %d seen %d times, want %d", id, got, want)
		}
	}
	if seen["c:999"] != 0 || seen["d:3"] != 1 || seen["tombstone:3"] != 1 {
		t.Errorf("seen %v", seen)
	}
}

// TestConsumerConfig: a bad Config names the missing field.
func TestConsumerConfig(t *testing.T) {
	for _, c := range []Config{
		{Group: "g", Topics: []string{"t"}, RegistryURL: "http://x"},
		{Brokers: []string{"b"}, Topics: []string{"t"}, RegistryURL: "http://x"},
		{Brokers: []string{"b"}, Group: "g", RegistryURL: "http://x"},
		{Brokers: []string{"b"}, Group: "g", Topics: []string{"t"}},
	} {
		if _, err := NewConsumer(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
	if _, err := NewTransactConsumer(TransactConfig{Config: Config{Brokers: []string{"b"}, Group: "g", Topics: []string{"t"}, RegistryURL: "http://x"}}); !errors.Is(err, ErrConfig) {
		t.Errorf("no TransactionalID: %v, want ErrConfig", err)
	}
}

// TestConsumerCommitAfterLostGeneration: a commit refused because the
// group moved on without the member (ILLEGAL_GENERATION, injected once)
// does not stop Run; every record is still handled and the group's
// offsets are committed past them in the end.
func TestConsumerCommitAfterLostGeneration(t *testing.T) {
	f := newFixture(t)
	var recs []*kgo.Record
	for id := 1; id <= 12; id++ {
		recs = append(recs, f.item(t, id))
	}
	f.produce(t, true, recs...)
	refused := 0
	f.cluster.ControlKey(int16(kmsg.OffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.IllegalGeneration.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		refused++
		return resp, nil, true
	})
	c, err := NewConsumer(f.config("slow"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[any]bool{}
	if err := runUntil(t, c, func(ctx context.Context, e *Event) error {
		seen[e.Key["id"]] = true
		if len(seen) == len(recs) {
			return errStop
		}
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want it to go on after the refused commit", err)
	}
	if refused != 1 || len(seen) != len(recs) {
		t.Errorf("refused %d commits, handled %d of %d records", refused, len(seen), len(recs))
	}
	var total int64
	for _, o := range f.committed(t, "slow") {
		total += o
	}
	if total < int64(len(recs)) {
		t.Errorf("committed offsets sum to %d, want at least %d", total, len(recs))
	}
}
