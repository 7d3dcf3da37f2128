package main

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batchCount is how a topic's records were batched as the broker stored
// them: every produce request appends whole batches, and the broker's
// CPU goes largely per batch and per request, not per record, so a
// producer's batching shows in the broker's CPU.
type batchCount struct {
	batches, records int64
}

// perBatch is the mean data records per stored batch; the batches include
// the one-record commit markers of exactly-once transactions.
func (b batchCount) perBatch() float64 {
	if b.batches == 0 {
		return 0
	}
	return float64(b.records) / float64(b.batches)
}

type batchHook struct{ c *batchCount }

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (h batchHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	h.c.batches++
}

// countBatches reads a topic from its start to its end (read_uncommitted:
// every batch the broker stored) and counts its batches and data records.
func (e *benchEnv) countBatches(ctx context.Context, topic string) (batchCount, error) {
	var c batchCount
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.WithHooks(batchHook{&c}))
	if err != nil {
		return c, err
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			return c, ctx.Err()
		}
		c.records += int64(fs.NumRecords())
	}
}
