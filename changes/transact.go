package changes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TransactConfig configures a TransactConsumer.
type TransactConfig struct {
	Config
	// TransactionalID identifies the output producer across restarts:
	// keep it stable for a service instance. A second producer with the
	// same id fences the first. Required.
	TransactionalID string
	// TransactionTimeout is the longest a transaction stays open; the
	// broker aborts it after that. 0 means 60s. It must not exceed the
	// brokers' transaction.max.timeout.ms.
	TransactionTimeout time.Duration
}

// TransactHandler processes one event and produces its results through
// out. Returning an error aborts the transaction: nothing out produced
// since the batch began becomes visible, and the batch is not committed.
type TransactHandler func(ctx context.Context, e *Event, out *Output) error

// Output produces records inside the current transaction. It is valid
// only during the TransactHandler call it is passed to.
type Output struct {
	s *kgo.GroupTransactSession

	mu  sync.Mutex
	err error
}

// Produce buffers r in the current transaction and returns at once; the
// transaction commits only after every produced record is acknowledged,
// and aborts if any fails. Records to the same partition keep their
// order.
func (o *Output) Produce(ctx context.Context, r *kgo.Record) {
	o.s.Produce(ctx, r, func(_ *kgo.Record, err error) {
		if err != nil {
			o.mu.Lock()
			if o.err == nil {
				o.err = err
			}
			o.mu.Unlock()
		}
	})
}

func (o *Output) failed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// TransactConsumer consumes, transforms and produces exactly once, as
// franz-go's GroupTransactSession does: each polled batch is one Kafka
// transaction holding the records the handler produced and the batch's
// consumed offsets. A read_committed reader of the output sees the result
// of every input record exactly once, across crashes of the service and
// rebalances of its group.
type TransactConsumer struct {
	cfg TransactConfig
	s   *kgo.GroupTransactSession
	dec *Decoder

	mu   sync.Mutex
	used bool
}

// NewTransactConsumer validates cfg and makes a TransactConsumer. It does
// not contact Kafka yet. Errors wrap ErrConfig.
func NewTransactConsumer(cfg TransactConfig) (*TransactConsumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.TransactionalID == "" {
		return nil, fmt.Errorf("%w: TransactionalID is empty; give each service instance a stable id, e.g. <service>-<instance>", ErrConfig)
	}
	if cfg.TransactionTimeout < 0 {
		return nil, fmt.Errorf("%w: TransactionTimeout %v is negative; use 0 for the default", ErrConfig, cfg.TransactionTimeout)
	}
	timeout := cfg.TransactionTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	reg, err := cfg.registry()
	if err != nil {
		return nil, err
	}
	opts := append(cfg.clientOpts(),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(timeout),
	)
	s, err := kgo.NewGroupTransactSession(append(opts, cfg.KafkaOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &TransactConsumer{cfg: cfg, s: s, dec: NewDecoder(reg)}, nil
}

// Client returns the underlying franz-go client. Do not poll, produce or
// commit with it.
func (t *TransactConsumer) Client() *kgo.Client { return t.s.Client() }

// Run polls the topics and, for each batch, begins a transaction, calls h
// for each record in offset order within each partition, and commits the
// transaction with the batch's offsets. It blocks until ctx is done or a
// batch fails.
//
// A batch whose transaction cannot commit because the group rebalanced is
// aborted and polled again from the committed offsets, silently: that is
// the normal course of a rebalance. A handler error, a decode error or a
// failed produce aborts the batch and ends Run with that error
// (*HandlerError, *DecodeError). Run may be called once; Close after it
// returns.
func (t *TransactConsumer) Run(ctx context.Context, h TransactHandler) error {
	t.mu.Lock()
	used := t.used
	t.used = true
	t.mu.Unlock()
	if used {
		return ErrClosed
	}
	max := t.cfg.maxPoll()
	for {
		fetches := t.s.PollRecords(ctx, max)
		if fetches.IsClientClosed() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("fetching %s/%d: %w", topic, p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		if fetches.NumRecords() == 0 {
			continue
		}
		if err := t.s.Begin(); err != nil {
			return fmt.Errorf("beginning a transaction: %w", err)
		}
		out := &Output{s: t.s}
		err := t.handle(ctx, fetches, h, out)
		if err == nil {
			err = out.failed()
		}
		end := kgo.TryCommit
		if err != nil {
			end = kgo.TryAbort
		}
		// End with a context that outlives ctx: a transaction begun must
		// be ended, or the producer stays fenced until it times out.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		// A false "committed" without an error means the group
		// rebalanced: the session rewound to the committed offsets, and
		// the next poll consumes the batch again.
		_, endErr := t.s.End(endCtx, end)
		cancel()
		if err == nil {
			// A failed produce shows up only once End flushed.
			err = out.failed()
		}
		if err != nil {
			return err
		}
		if endErr != nil {
			return fmt.Errorf("ending the transaction (the batch was not committed and will be consumed again): %w", endErr)
		}
	}
}

func (t *TransactConsumer) handle(ctx context.Context, fetches kgo.Fetches, h TransactHandler, out *Output) error {
	var err error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		for _, r := range p.Records {
			if err != nil {
				return
			}
			var e *Event
			if e, err = t.dec.Decode(ctx, r); err != nil {
				return
			}
			if herr := h(ctx, e, out); herr != nil {
				err = &HandlerError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: herr}
			}
		}
	})
	return err
}

// Close aborts nothing (Run ends every transaction it begins), leaves the
// group and closes the client. Safe to call more than once.
func (t *TransactConsumer) Close() {
	t.mu.Lock()
	t.used = true
	t.mu.Unlock()
	t.s.Close()
}
