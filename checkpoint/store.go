package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrKafka matches (errors.Is) every error of reading the offsets topic
// that this package returns; its text is the start of their messages.
var ErrKafka = errors.New("kafka")

// Record builds the offsets-topic record for a checkpoint. The key is the
// connector name, so compaction keeps the latest checkpoint per connector.
func Record(topic, name string, c *Checkpoint) (*kgo.Record, error) {
	c.Version = 1
	if c.TsMs == 0 {
		c.TsMs = time.Now().UnixMilli()
	}
	b, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte(name), Value: b}, nil
}

// ReadTopic reads topic from the beginning up to its last stable offset
// with read_committed isolation, so records of aborted or open
// transactions are never seen, and calls fn for every record in order.
func ReadTopic(ctx context.Context, opts []kgo.Opt, topic string, fn func(*kgo.Record) error) error {
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	// A topic created a moment ago may still be electing its leader:
	// retry retriable errors for a while.
	var ends kadm.ListedOffsets
	for attempt := 0; ; attempt++ {
		ends, err = kadm.NewClient(adm).ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil || !kerr.IsRetriable(err) || attempt >= 60 {
			break
		}
		select {
		case <-ctx.Done():
			adm.Close()
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	adm.Close()
	if err != nil {
		return fmt.Errorf("%w: end offsets of %s: %w", ErrKafka, topic, err)
	}
	target := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == topic && o.Offset > 0 {
			target[o.Partition] = o.Offset
		}
	})
	if len(target) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (commit and abort markers) advance the offset
		// we compare against the last stable offset.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(target) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("%w: reading %s[%d]: %w", ErrKafka, t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			end, ok := target[r.Partition]
			if !ok {
				continue
			}
			if r.Offset+1 >= end {
				delete(target, r.Partition)
			}
			if r.Attrs.IsControl() {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load returns the latest checkpoint stored for name in topic, or nil when
// there is none.
func Load(ctx context.Context, opts []kgo.Opt, topic, name string) (*Checkpoint, error) {
	var last []byte
	found := false
	err := ReadTopic(ctx, opts, topic, func(r *kgo.Record) error {
		if string(r.Key) == name {
			last, found = r.Value, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found || last == nil {
		return nil, nil
	}
	return Unmarshal(last)
}
