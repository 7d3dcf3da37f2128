// Package emit produces records to Kafka: change topics, the schema-change
// topic and Sluice's internal topics. It knows records and delivery, not
// source positions: the pipeline decides when to call Commit.
package emit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Options configure a Producer.
type Options struct {
	Brokers  []string
	ClientID string
	// TransactionalID enables exactly-once mode: every batch between two
	// Commits is one Kafka transaction. Empty: at-least-once with the
	// idempotent producer.
	TransactionalID string
	// TransactionTimeout is the longest a transaction may stay open before
	// the broker aborts it (kafka.transaction_timeout). It must not exceed
	// the brokers' transaction.max.timeout.ms; see CheckTransactionTimeout.
	// Zero: DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	DeliveryTimeout    time.Duration
	MaxRecordBytes     int
	// Compression is none, lz4, zstd, snappy or gzip. Empty: none.
	Compression string
	TLS         *tls.Config
	SASL        sasl.Mechanism
	Logger      *slog.Logger
	// OnAck, when set, is called with each record Kafka acknowledged, as
	// it is acknowledged, on a franz-go goroutine: it must be quick and
	// must not retain the record.
	OnAck func(r *kgo.Record)
	// OnCommit, when set, is called as Commit begins (true) and as it
	// returns (false), so that a liveness probe can tell a commit that
	// hangs from a producer with nothing to do.
	OnCommit func(begun bool)

	// maxBufferedRecords overrides the client's record buffer size, so
	// that tests can fill it with a few records.
	maxBufferedRecords int
}

// DefaultTransactionTimeout is the transaction timeout when
// Options.TransactionTimeout is zero: the kafka.transaction_timeout
// default.
const DefaultTransactionTimeout = 60 * time.Second

// The client's buffer: Produce waits for space beyond these.
const (
	maxBufferedRecords = 20000
	maxBufferedBytes   = 64 << 20
	// concurrentTxnBackoff: see NewProducer. franz-go lengthens it itself
	// when a broker stays in that state for over a second.
	concurrentTxnBackoff = 5 * time.Millisecond
)

// ClientOpts returns the franz-go options shared by every client Sluice
// makes for these brokers (producer, admin, checkpoint reader).
func (o *Options) ClientOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(o.Brokers...)}
	if o.ClientID != "" {
		opts = append(opts, kgo.ClientID(o.ClientID))
	}
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS))
	}
	if o.SASL != nil {
		opts = append(opts, kgo.SASL(o.SASL))
	}
	return opts
}

// Producer writes records asynchronously and reports, at Commit, whether
// every record since the previous Commit was delivered. After the first
// delivery error it accepts no more work: Commit returns that error and the
// caller must not advance its checkpoint.
//
// Produce and Commit must be called from one goroutine.
type Producer struct {
	cl    *kgo.Client
	txn   bool
	txnID string
	log   *slog.Logger

	txnTimeout time.Duration
	maxRecords int64 // the client's buffer, see Produce
	maxBytes   int64

	inTxn bool
	// produceCtx is context.WithoutCancel(lastCtx), kept so that Produce
	// does not allocate one per record.
	lastCtx, produceCtx context.Context
	// commitTimeout bounds Flush and EndTransaction: franz-go retries a
	// broker that keeps dropping connections without ever timing the
	// records out, and a pipeline must not hang silently.
	commitTimeout time.Duration

	onCommit func(begun bool)

	mu  sync.Mutex
	err error // first delivery error, sticky
}

// NewProducer makes a producer. It does not contact the brokers until the
// first request; call CheckTransactionTimeout to check the brokers'
// transaction limit before producing.
func NewProducer(o Options) (*Producer, error) {
	maxRecords := maxBufferedRecords
	if o.maxBufferedRecords > 0 {
		maxRecords = o.maxBufferedRecords
	}
	opts := append(o.ClientOpts(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Keyed records go to murmur2(key) % partitions, as a Java
		// producer would choose.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(compression(o.Compression), kgo.NoCompression()),
		kgo.MaxBufferedRecords(maxRecords),
		kgo.MaxBufferedBytes(maxBufferedBytes),
		// Topics are created before producing; an unknown topic is an
		// error, not something to wait for.
		kgo.UnknownTopicRetries(3),
	)
	if o.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(o.DeliveryTimeout))
	}
	if o.MaxRecordBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(o.MaxRecordBytes)))
	}
	if o.OnAck != nil {
		opts = append(opts, kgo.WithHooks(ackHook(o.OnAck)))
	}
	tt := o.TransactionTimeout
	if tt <= 0 {
		tt = DefaultTransactionTimeout
	}
	if o.TransactionalID != "" {
		// The broker aborts a transaction left open longer than this,
		// and refuses (InitProducerID) a timeout above its
		// transaction.max.timeout.ms.
		opts = append(opts, kgo.TransactionalID(o.TransactionalID), kgo.TransactionTimeout(tt),
			// A transaction begun right after the previous one's commit
			// is refused (CONCURRENT_TRANSACTIONS) until the broker has
			// written the commit markers, a few milliseconds; franz-go's
			// 20ms retry held the next batch's first produce for the
			// whole of it, at about every other commit of a drain.
			kgo.ConcurrentTransactionsBackoff(concurrentTxnBackoff))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w producer: %w", ErrKafka, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	ct := 2 * o.DeliveryTimeout
	if ct <= 0 {
		ct = 4 * time.Minute
	}
	return &Producer{
		cl: cl, txn: o.TransactionalID != "", txnID: o.TransactionalID, log: log, commitTimeout: ct, txnTimeout: tt,
		maxRecords: int64(maxRecords), maxBytes: maxBufferedBytes, onCommit: o.OnCommit,
	}, nil
}

// Client returns the underlying client (for admin requests).
func (p *Producer) Client() *kgo.Client { return p.cl }

// Transactional reports whether the producer writes in transactions.
func (p *Producer) Transactional() bool { return p.txn }

// ClaimTransactionalID initialises the transactional producer now instead
// of at the first transaction: an instance still running with the same
// transactional.id is fenced, and its open transaction aborted, before
// ClaimTransactionalID returns. A transaction timeout the broker refuses is
// reported as a *TransactionTimeoutError.
func (p *Producer) ClaimTransactionalID(ctx context.Context) error {
	if !p.txn {
		return nil
	}
	if _, _, err := p.cl.ProducerID(ctx); err != nil {
		if errors.Is(err, kerr.InvalidTransactionTimeout) {
			return p.timeoutRefused(err)
		}
		return fmt.Errorf("%w: claiming transactional.id %s: %w", ErrKafka, p.txnID, err)
	}
	return nil
}

// Produce queues r for delivery. Delivery errors surface at Commit and
// through Err.
//
// Produce blocks only while the client's buffer is full (back-pressure onto
// the source), until buffered records are delivered or fail. If ctx ends
// while Produce waits, Produce returns an error wrapping ctx's error, r is
// not delivered, and the producer is failed: Commit returns that error, so
// nothing produced after it can be checkpointed. A record that Produce
// accepted is not affected when ctx ends later.
func (p *Producer) Produce(ctx context.Context, r *kgo.Record) error {
	if err := p.Err(); err != nil {
		return err
	}
	if p.txn && !p.inTxn {
		if err := p.cl.BeginTransaction(); err != nil {
			if errors.Is(err, kerr.InvalidTransactionTimeout) {
				// The producer id, initialised here, was refused.
				return p.fail(p.timeoutRefused(err))
			}
			return p.fail(fmt.Errorf("%w: begin transaction: %w", ErrKafka, err))
		}
		p.inTxn = true
	}
	// A record lives until it is delivered or fails (delivery timeout),
	// not until the caller's context ends: a record cancelled with its
	// context would fail the batch after the caller moved on.
	if ctx != p.lastCtx {
		p.lastCtx, p.produceCtx = ctx, context.WithoutCancel(ctx)
	}
	if ctx.Done() != nil && p.mustWait(r) {
		return p.produceWaiting(ctx, r)
	}
	p.cl.Produce(p.produceCtx, r, p.promise)
	return nil
}

// mustWait reports whether the client's buffer has no room for r, so that
// Produce would block. franz-go blocks when the buffered records reach
// MaxBufferedRecords or the buffered bytes (keys, values and headers) would
// pass MaxBufferedBytes. Only this goroutine adds records and the client
// only removes them, so a buffer that has room now still has it when the
// record is handed over.
func (p *Producer) mustWait(r *kgo.Record) bool {
	if p.cl.BufferedProduceRecords() >= p.maxRecords {
		return true
	}
	size := int64(len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		size += int64(len(h.Key) + len(h.Value))
	}
	return p.cl.BufferedProduceBytes()+size > p.maxBytes
}

// produceWaiting hands r over when the buffer is full. franz-go's Produce
// waits for space until its ctx ends; once r is buffered, the same ctx
// cancels r (and its batch) when it ends. Passing the caller's ctx would
// cancel accepted records later, and the record-lifetime ctx alone would
// let a broker that is down hold Produce, and so a hard stop, for as long
// as it stays down (records already sent are never timed out). So r gets
// its own ctx, which only the caller's ctx ending during the wait cancels:
// the wait ends with r failed and the producer failed first, so the error
// reported is the cancellation and no later Commit can succeed. Once r is
// buffered the watch is stopped and r's ctx is never cancelled.
//
// The watch costs an allocation and a registration with the caller's ctx,
// which is why Produce takes this path only when it would block.
func (p *Producer) produceWaiting(ctx context.Context, r *kgo.Record) error {
	wait, cancel := context.WithCancel(p.produceCtx)
	stop := context.AfterFunc(ctx, func() {
		p.fail(stoppedWaiting(ctx.Err()))
		cancel()
	})
	p.cl.Produce(wait, r, p.promise)
	if stop() {
		// Accepted (or failed by the client on its own). wait has a
		// parent that is never cancelled, so dropping cancel leaks
		// nothing.
		return nil
	}
	// The watch ran, or is running: fail here too rather than wait for it.
	return p.fail(stoppedWaiting(ctx.Err()))
}

func stoppedWaiting(err error) error {
	return fmt.Errorf("%w: stopped while waiting for room in the producer buffer (is the cluster reachable?); "+
		"nothing after the last checkpoint is assumed delivered: %w", ErrKafka, err)
}

func (p *Producer) promise(r *kgo.Record, err error) {
	if err != nil {
		p.fail(p.deliveryError(r, err))
	}
}

func (p *Producer) fail(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	return p.err
}

// Err returns the first delivery error, if any.
func (p *Producer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Commit produces tail (the checkpoint record, schema-history records) and
// then makes everything produced since the last Commit durable: in
// exactly-once mode by committing the Kafka transaction, otherwise by
// waiting for every acknowledgement. A nil error means every record was
// acknowledged by all in-sync replicas, so the caller may advance its
// checkpoint. A non-nil error means nothing may be assumed delivered; in
// exactly-once mode the transaction was aborted or its outcome is unknown,
// and the caller must resume from the last committed checkpoint.
func (p *Producer) Commit(ctx context.Context, tail ...*kgo.Record) error {
	if err := p.Err(); err != nil {
		// Failed already: nothing to wait for (an open transaction is
		// aborted by Close).
		return err
	}
	if p.onCommit != nil {
		p.onCommit(true)
		defer p.onCommit(false)
	}
	ctx, cancel := context.WithTimeout(ctx, p.commitTimeout)
	defer cancel()
	if !p.txn {
		// At-least-once: the events must be acknowledged before the tail
		// (the checkpoint) is even sent; records to different partitions
		// are acknowledged in any order, so sending them together could
		// store a checkpoint ahead of an undelivered event [I2].
		if err := p.cl.Flush(ctx); err != nil {
			return p.fail(flushError(err, p.commitTimeout))
		}
		if err := p.Err(); err != nil {
			return err
		}
	}
	for _, r := range tail {
		if err := p.Produce(ctx, r); err != nil {
			return err
		}
	}
	if err := p.cl.Flush(ctx); err != nil {
		return p.fail(flushError(err, p.commitTimeout))
	}
	if err := p.Err(); err != nil {
		if p.inTxn {
			p.abort(ctx)
		}
		return err
	}
	if !p.txn || !p.inTxn {
		return nil
	}
	p.inTxn = false
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return p.fail(p.transactionError(err))
	}
	return nil
}

func (p *Producer) abort(ctx context.Context) {
	p.inTxn = false
	if err := p.cl.AbortBufferedRecords(ctx); err != nil {
		p.log.Warn("kafka: aborting buffered records failed", "err", err)
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		p.log.Warn("kafka: aborting the transaction failed; the next instance's producer fences it", "err", err)
	}
}

// Close releases the client. It does not deliver buffered records: an
// open transaction is aborted, and anything not committed by Commit is
// lost to Kafka (and will be produced again from the checkpoint).
//
// The abort waits at most 10 seconds for the brokers, and at most 2 after
// a hard stop (the producer failed because a caller's context was
// cancelled), so that a stop the operator forces is not held up by
// brokers that do not answer. A transaction left open is aborted by the
// brokers after kafka.transaction_timeout, or by the next instance when
// it starts.
func (p *Producer) Close() {
	if p.txn && p.inTxn {
		d := 10 * time.Second
		if errors.Is(p.Err(), context.Canceled) {
			d = 2 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		p.abort(ctx)
		cancel()
	}
	p.cl.Close()
}

func flushError(err error, d time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: records not acknowledged within %s (twice kafka.delivery_timeout); is the cluster reachable? %w", ErrKafka, d, err)
	}
	return fmt.Errorf("%w: flush: %w", ErrKafka, err)
}

type ackHook func(r *kgo.Record)

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered.
func (h ackHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err == nil {
		h(r)
	}
}

// ErrKafka matches (errors.Is) every error of a request to the Kafka
// brokers that this package returns; its text is the start of their
// messages.
var ErrKafka = errors.New("kafka")

// ErrFenced reports that the brokers fenced the producer: another instance
// with the same transactional.id took over, or (exactly-once mode) a
// transaction stayed open longer than kafka.transaction_timeout and the
// brokers aborted it.
var ErrFenced = errors.New("another sluice instance with the same name took over (producer fenced); this instance stops")

// fenced wraps an error by which the brokers fenced this producer. With
// transactions they fence for two reasons they do not tell apart: another
// producer initialised the same transactional.id, or a transaction of this
// one outlived the transaction timeout and the coordinator aborted it
// (bumping the epoch, as a new producer would).
func (p *Producer) fenced(err error) error {
	if !p.txn {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return fmt.Errorf("%w (or, if no other instance was started, a Kafka transaction stayed open longer than "+
		"kafka.transaction_timeout %s and the brokers aborted it): %w", ErrFenced, p.txnTimeout, err)
}

// transactionError classifies an error of EndTransaction.
func (p *Producer) transactionError(err error) error {
	switch {
	case errors.Is(err, kerr.InvalidTransactionTimeout):
		return p.timeoutRefused(err)
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return p.fenced(err)
	}
	return fmt.Errorf("%w: commit transaction: %w", ErrKafka, err)
}

// RecordTooLargeError reports a record the brokers will not accept.
type RecordTooLargeError struct {
	Topic string
	Bytes int
	Err   error
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("kafka: a %d-byte record for topic %s is larger than Kafka accepts; raise the topic's max.message.bytes "+
		"(and the broker's message.max.bytes) and kafka.max_record_bytes together, or exclude the large column with "+
		"source.exclude_columns: %v", e.Bytes, e.Topic, e.Err)
}

func (e *RecordTooLargeError) Unwrap() error { return e.Err }

// deliveryError classifies the error a record failed with.
func (p *Producer) deliveryError(r *kgo.Record, err error) error {
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return &RecordTooLargeError{Topic: r.Topic, Bytes: len(r.Key) + len(r.Value), Err: err}
	case errors.Is(err, kerr.InvalidTransactionTimeout):
		// The transactional producer id could not be initialised.
		return p.timeoutRefused(err)
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch):
		return p.fenced(err)
	}
	return fmt.Errorf("%w: delivering to topic %s: %w", ErrKafka, r.Topic, err)
}

// compression maps the kafka.compression setting to a codec.
func compression(name string) kgo.CompressionCodec {
	switch name {
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "gzip":
		return kgo.GzipCompression()
	default:
		return kgo.NoCompression()
	}
}
