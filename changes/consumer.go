package changes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// Config configures a Consumer or a TransactConsumer.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Required: offsets are committed to it,
	// and the group's members share the topics' partitions.
	Group string
	// Topics to consume, e.g. "inventory.public.orders". Required.
	Topics []string
	// TopicRegex makes Topics regular expressions (as Go's regexp, matched
	// against whole topic names), e.g. `inventory\.public\..*`. New
	// matching topics are picked up as they appear.
	TopicRegex bool

	// RegistryURL is the schema registry. Required unless Registry is set.
	RegistryURL string
	// Registry, when set, is used instead of a client for RegistryURL
	// (for authentication, TLS, or a test registry).
	Registry Schemas

	// MaxPollRecords bounds the records handled between two offset
	// commits; 0 means 1000.
	MaxPollRecords int

	// KafkaOptions are appended to the client options this package sets
	// (TLS, SASL, logging, ...). Do not override the group, the isolation
	// level or the commit options set here.
	KafkaOptions []kgo.Opt
}

func (c *Config) validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: Brokers is empty; set the Kafka seed brokers, e.g. []string{\"127.0.0.1:9092\"}", ErrConfig)
	case c.Group == "":
		return fmt.Errorf("%w: Group is empty; name the consumer group the service commits its offsets to", ErrConfig)
	case len(c.Topics) == 0:
		return fmt.Errorf("%w: Topics is empty; list the change topics, e.g. <name>.public.orders", ErrConfig)
	case c.RegistryURL == "" && c.Registry == nil:
		return fmt.Errorf("%w: RegistryURL is empty; set the schema registry Sluice writes to, e.g. http://127.0.0.1:8081", ErrConfig)
	case c.MaxPollRecords < 0:
		return fmt.Errorf("%w: MaxPollRecords %d is negative; use 0 for the default", ErrConfig, c.MaxPollRecords)
	}
	return nil
}

func (c *Config) registry() (Schemas, error) {
	if c.Registry != nil {
		return c.Registry, nil
	}
	cl, err := sr.NewClient(sr.URLs(c.RegistryURL))
	if err != nil {
		return nil, fmt.Errorf("%w: RegistryURL %q: %w", ErrConfig, c.RegistryURL, err)
	}
	return cl, nil
}

func (c *Config) maxPoll() int {
	if c.MaxPollRecords == 0 {
		return 1000
	}
	return c.MaxPollRecords
}

// clientOpts are the options both consumers share: the group, the topics,
// read_committed (only committed Sluice transactions are seen, so an
// aborted batch of a crashed Sluice never reaches a handler), and the
// start of each partition for a new group.
func (c *Config) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.Topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if c.TopicRegex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	return opts
}

// Handler processes one event. Returning nil lets the consumer commit the
// event's offset; returning an error stops the consumer without
// committing it. The event's maps belong to the handler.
type Handler func(ctx context.Context, e *Event) error

// Consumer consumes change topics at least once: see Run. Its methods may
// be called from any goroutine, Run only once.
type Consumer struct {
	cfg Config
	cl  *kgo.Client
	dec *Decoder

	mu   sync.Mutex
	used bool
}

// NewConsumer validates cfg and makes a Consumer. It does not contact
// Kafka or the registry yet; Run does. Errors wrap ErrConfig.
func NewConsumer(cfg Config) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	reg, err := cfg.registry()
	if err != nil {
		return nil, err
	}
	opts := append(cfg.clientOpts(),
		// Offsets are committed by Run, after the handler, never by a
		// timer: a timer could commit a record the handler has not
		// finished.
		kgo.DisableAutoCommit(),
		// No partition moves away while a polled batch is being handled,
		// so a batch's offsets are committed by the member that handled
		// it.
		kgo.BlockRebalanceOnPoll(),
	)
	cl, err := kgo.NewClient(append(opts, cfg.KafkaOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &Consumer{cfg: cfg, cl: cl, dec: NewDecoder(reg)}, nil
}

// Client returns the underlying franz-go client (for metrics, lag, or
// admin requests). Do not poll or commit with it.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Decoder returns the consumer's decoder.
func (c *Consumer) Decoder() *Decoder { return c.dec }

// Run polls the topics and calls h for each record, one at a time, in
// offset order within each partition, until ctx is done or h fails. It
// blocks until then.
//
// After each polled batch (at most Config.MaxPollRecords records) Run
// commits, synchronously, the offset after the last record of each
// partition that h returned nil for. So a record's offset is committed
// only after h succeeded for it and for every record before it in its
// partition: at-least-once. Records after a failure are not handled and
// their offsets not committed.
//
// Run returns a *HandlerError wrapping h's error, a *DecodeError for a
// record that cannot be decoded, a fetch error the client does not
// recover from (among them *kgo.ErrDataLoss: records were deleted by
// retention before they were consumed), a commit's error, or ctx's error
// when ctx ends (after committing what was handled). A commit refused
// because the group rebalanced without this member (a batch took longer
// than the rebalance timeout) does not stop Run: the records are
// delivered again from the committed offsets. Tombstones and
// KindOther records go to h like changes. Run may be called once: later
// calls return ErrClosed. Close the consumer after Run returns.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	c.mu.Lock()
	used := c.used
	c.used = true
	c.mu.Unlock()
	if used {
		return ErrClosed
	}
	max := c.cfg.maxPoll()
	for {
		fetches := c.cl.PollRecords(ctx, max)
		if fetches.IsClientClosed() {
			return ErrClosed
		}
		var handled []*kgo.Record
		var runErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if runErr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				runErr = fmt.Errorf("fetching %s/%d: %w", topic, p, err)
			}
		})
		if runErr == nil {
			runErr = c.handle(ctx, fetches, h, &handled)
		}
		if err := c.commit(handled); err != nil && runErr == nil && !lostGeneration(err) {
			runErr = err
		}
		c.cl.AllowRebalance()
		if runErr != nil {
			return runErr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// handle runs h over a batch, partition by partition, and records the
// last handled record of each partition. It stops at the first error.
func (c *Consumer) handle(ctx context.Context, fetches kgo.Fetches, h Handler, handled *[]*kgo.Record) error {
	var err error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if err != nil {
			return
		}
		var last *kgo.Record
		for _, r := range p.Records {
			if err = ctx.Err(); err != nil {
				break
			}
			var e *Event
			if e, err = c.dec.Decode(ctx, r); err != nil {
				break
			}
			if herr := h(ctx, e); herr != nil {
				err = &HandlerError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: herr}
				break
			}
			last = r
		}
		if last != nil {
			*handled = append(*handled, last)
		}
	})
	return err
}

// commitTimeout bounds an offset commit after Run's context ended.
const commitTimeout = 30 * time.Second

// commit commits the offsets after the given records. It uses a fresh
// context: the handled work must be committed even when Run's context
// has just ended, or it would be redone.
func (c *Consumer) commit(rs []*kgo.Record) error {
	if len(rs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := c.cl.CommitRecords(ctx, rs...); err != nil {
		return fmt.Errorf("committing offsets (the handled records will be delivered again): %w", err)
	}
	return nil
}

// lostGeneration reports a commit refused because this member no longer
// owns the partitions (it was too slow and the group rebalanced without
// it). The uncommitted records go to the partitions' new owner, or back
// to this member after it rejoins, from the committed offsets: processing
// stays at least once, and Run goes on.
func lostGeneration(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) ||
		errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.StaleMemberEpoch)
}

// Close leaves the group and closes the client. It does not commit:
// Run commits before it returns. Close is safe to call more than once,
// and makes a running Run return ErrClosed.
func (c *Consumer) Close() {
	c.mu.Lock()
	c.used = true
	c.mu.Unlock()
	c.cl.Close()
}
