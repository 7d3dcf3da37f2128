package main

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchKafka produces pre-encoded records of the size Sluice writes to the
// same broker with the same producer settings: the Kafka side's limit.
func benchKafka(ctx context.Context, e *benchEnv) ([]result, error) {
	size := 330
	if *flagWide {
		size = 2200
	}
	n := *flagChanges
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.MaxBufferedRecords(20000))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, "bench.raw"); err != nil {
		return nil, err
	}
	val := make([]byte, size)
	_, _ = rand.Read(val[:size/3]) // partly compressible, like a change event
	t0 := time.Now()
	for i := 0; i < n; i++ {
		key := []byte{0, 0, 0, 0, 1, byte(i), byte(i >> 8), byte(i >> 16)}
		cl.Produce(ctx, &kgo.Record{Topic: "bench.raw", Key: key, Value: val}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	rate := float64(n) / time.Since(t0).Seconds()
	logf("kafka: %.0f records/s of %d bytes", rate, size)
	return []result{{Scenario: "kafka produce (limit)", Figures: map[string]float64{
		"records": float64(n), "records_per_s": rate, "record_bytes": float64(size),
	}, Notes: "franz-go, acks=all, idempotent, no compression (Sluice's default), pre-encoded records"}}, nil
}
