package emit

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicecdc/sluice/checkpoint"
)

// These tests run the producer against franz-go's in-process Kafka
// (kfake), injecting faults into single requests with Cluster.ControlKey.
// The same guarantees are tested end to end against real brokers in
// integration/.

// Topics every test cluster has: events stand for change events, and
// offsets for the checkpoint record Commit is given as its tail.
const (
	eventsTopic  = "events"
	offsetsTopic = "offsets"
)

// modes are the two delivery modes, for tests that hold in both.
var modes = []struct {
	name string
	txn  bool
}{{"at-least-once", false}, {"exactly-once", true}}

// newCluster starts a fake cluster with the test topics.
func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(3, eventsTopic),
		kfake.SeedTopics(1, offsetsTopic),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newProducer returns a producer for c, exactly-once (transactional id
// "sluice-test") when txn is set. Timeouts are short so that a failing
// test fails in seconds; tests that need other options set them in o.
func newProducer(t *testing.T, c *kfake.Cluster, txn bool, o Options) *Producer {
	t.Helper()
	o.Brokers = c.ListenAddrs()
	if txn && o.TransactionalID == "" {
		o.TransactionalID = "sluice-test"
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = time.Second
	}
	p, err := NewProducer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func event(key string) *kgo.Record {
	return &kgo.Record{Topic: eventsTopic, Key: []byte(key), Value: []byte("value of " + key)}
}

func checkpointRecord(v string) *kgo.Record {
	return &kgo.Record{Topic: offsetsTopic, Key: []byte("test"), Value: []byte(v)}
}

// produce produces events with the given keys, failing the test on a
// Produce error.
func produce(t *testing.T, p *Producer, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := p.Produce(context.Background(), event(k)); err != nil {
			t.Fatalf("Produce(%s): %v", k, err)
		}
	}
}

// committed returns the keys of topic's records that a read_committed
// consumer sees, sorted.
func committed(t *testing.T, c *kfake.Cluster, topic string) []string {
	t.Helper()
	var keys []string
	for _, r := range committedRecords(t, c, topic) {
		keys = append(keys, string(r.Key))
	}
	slices.Sort(keys)
	return keys
}

// committedRecords returns the records of topic that a read_committed
// consumer sees, in offset order per partition.
func committedRecords(t *testing.T, c *kfake.Cluster, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	err := checkpoint.ReadTopic(ctx, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, topic, func(r *kgo.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return recs
}

// errDropped is what a control function returns to make the fake broker
// close the connection instead of answering.
var errDropped = errors.New("injected: connection dropped")

// produceErrorResponse answers a produce request with code for every
// partition in it.
func produceErrorResponse(kreq kmsg.Request, code int16) kmsg.Response {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
