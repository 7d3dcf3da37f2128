package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/emit"
)

// warmBroker brings the broker's JIT to the state of a broker in service
// before the timed runs. A drain sends the broker a few hundred to a few
// thousand large produce requests, and HotSpot compiles a method with C2
// only after about ten thousand calls: the per-request produce path
// (KafkaApis.handleProduceRequest, ReplicaManager.appendToLocalLog,
// UnifiedLog.append) was still being compiled a minute into the bench, in
// whichever timed run came then, costing it up to a CPU second of broker
// time and running the rest of its requests in slower code. The first
// run after the warm-up drain, always an exactly-once one, paid most of
// it.
//
// So it sends many small produce requests, one record each, from a
// transactional producer (transactions of 20 records over two topics,
// like Sluice's change and offsets topics) and an idempotent one at once,
// in rounds, until a round's JIT compilation costs under 15% of the
// broker's CPU in it (at most maxRounds). It never reaches zero: even a
// broker warmed for minutes compiled for 0.05-0.4 CPU seconds in a
// 1M-record run, which is why each run reports its JIT part apart.
func (e *benchEnv) warmBroker(ctx context.Context) error {
	const (
		round     = 3 * time.Second
		maxRounds = 6
	)
	topics := []string{"bench.warm", "bench.warm.tail"}
	admin, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...))
	if err != nil {
		return err
	}
	defer admin.Close()
	// Existing from an earlier scenario of the same bench: kept. A warm-up
	// writes gigabytes; the broker deletes all but their last 256 MiB as
	// it goes (log.retention.check.interval.ms), so that they fit a tmpfs.
	small := map[string]*string{"retention.bytes": ptr("268435456"), "segment.bytes": ptr("67108864")}
	if err := emit.NewTopics(admin).Ensure(ctx, emit.TopicSpec{Name: topics[0], Configs: small},
		emit.TopicSpec{Name: topics[1], Configs: small}); err != nil {
		return err
	}
	common := []kgo.Opt{kgo.SeedBrokers(e.k.Brokers()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression())}
	txn, idem, err := warmClients(common, "bench-warm")
	if err != nil {
		return err
	}
	defer txn.Close()
	defer idem.Close()
	// And batches of hundreds of records, as a drain sends them, in
	// transactions and not: the broker's per-record loops over a batch
	// (validation, offset assignment) are compiled only under many-record
	// batches, and exactly-once drains kept paying 0.1-0.45 CPU seconds of
	// JIT each after small requests alone had quieted it.
	txnBatch, idemBatch, err := warmClients(append(common[:len(common):len(common)],
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(20000)), "bench-warm-batch")
	if err != nil {
		return err
	}
	defer txnBatch.Close()
	defer idemBatch.Close()
	val := make([]byte, 340) // about a drain's change event

	for i := 1; i <= maxRounds; i++ {
		m := e.meter()
		until := time.Now().Add(round)
		var wg sync.WaitGroup
		errs := make([]error, 5)
		wg.Add(5)
		go func() {
			defer wg.Done()
			errs[0] = warmTransactions(ctx, txn, topics, val, until)
		}()
		go func() {
			defer wg.Done()
			errs[3] = warmBatches(ctx, txnBatch, true, topics, val, until)
		}()
		go func() {
			defer wg.Done()
			errs[4] = warmBatches(ctx, idemBatch, false, topics, val, until)
		}()
		for g := 1; g <= 2; g++ {
			go func() {
				defer wg.Done()
				for n := 0; time.Now().Before(until); n++ {
					r := &kgo.Record{Topic: topics[0], Key: []byte(fmt.Sprint(n)), Value: val}
					if err := idem.ProduceSync(ctx, r).FirstErr(); err != nil {
						errs[g] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("warming the broker: %w", err)
		}
		c := m.kafkaJVMSince()
		logf("warming the broker, round %d: kafka CPU %.2f s, of which JIT %.2f, GC %.2f", i, c.total, c.jit, c.gc)
		if c.jit < 0.15*c.total {
			return nil
		}
	}
	logf("warning: the broker's JIT still compiles after %d warm-up rounds", maxRounds)
	return nil
}

// warmClients returns two producers with opts: a transactional one (id
// txnID) and an idempotent one.
func warmClients(opts []kgo.Opt, txnID string) (txn, idem *kgo.Client, err error) {
	txn, err = kgo.NewClient(append(opts[:len(opts):len(opts)], kgo.TransactionalID(txnID),
		kgo.ConcurrentTransactionsBackoff(5*time.Millisecond))...)
	if err != nil {
		return nil, nil, err
	}
	if idem, err = kgo.NewClient(opts...); err != nil {
		txn.Close()
		return nil, nil, err
	}
	return txn, idem, nil
}

// warmBatches produces rounds of 20,000 records over topics, each round a
// transaction when txn (cl is transactional), until the time is past until.
func warmBatches(ctx context.Context, cl *kgo.Client, txn bool, topics []string, val []byte, until time.Time) error {
	var mu sync.Mutex
	var first error
	for n := 0; time.Now().Before(until); {
		if txn {
			if err := cl.BeginTransaction(); err != nil {
				return err
			}
		}
		for range 20000 {
			r := &kgo.Record{Topic: topics[n%2], Key: []byte(fmt.Sprint(n)), Value: val}
			n++
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		mu.Lock()
		err := first
		mu.Unlock()
		if err != nil {
			return err
		}
		if txn {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return err
			}
		}
	}
	return nil
}

// warmTransactions commits transactions of 20 single-record produce
// requests over topics until the time is past until.
func warmTransactions(ctx context.Context, cl *kgo.Client, topics []string, val []byte, until time.Time) error {
	for time.Now().Before(until) {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for n := range 20 {
			r := &kgo.Record{Topic: topics[n%2], Key: []byte(fmt.Sprint(n)), Value: val}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				return err
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
	}
	return nil
}

func ptr(s string) *string { return &s }
