package emit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/singleflight"
)

// TopicSpec describes a topic Sluice creates when it is missing.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16 // -1: broker default
	Configs           map[string]*string
}

func ptr(s string) *string { return &s }

// Internal topic configurations, as the contract states them.
var (
	// OffsetsConfigs: compacted, so the latest checkpoint per key is kept.
	OffsetsConfigs = map[string]*string{"cleanup.policy": ptr("compact")}
	// HistoryConfigs: one partition, unlimited retention: the history is
	// never lost to time or size.
	HistoryConfigs = map[string]*string{
		"cleanup.policy":  ptr("delete"),
		"retention.ms":    ptr("-1"),
		"retention.bytes": ptr("-1"),
	}
)

// Topics creates topics that do not exist yet. Existing topics are left as
// they are. It is safe for concurrent use: a table's topic is made ready
// ahead of its first event (pipeline.Prepare) while that event may
// already want it, and one request serves both.
type Topics struct {
	cl     *kgo.Client
	mu     sync.Mutex
	known  map[string]bool
	flight singleflight.Group
}

// NewTopics returns a topic manager using cl.
func NewTopics(cl *kgo.Client) *Topics {
	return &Topics{cl: cl, known: map[string]bool{}}
}

// Ensure creates the missing topics among specs, in one request: the
// internal topics of a first start cost one round trip to the controller,
// not one each. Concurrent calls for the same topics share one request,
// which no one caller's ctx cancels: a caller whose ctx ends stops
// waiting, and the others still get the answer.
func (t *Topics) Ensure(ctx context.Context, specs ...TopicSpec) error {
	var missing []TopicSpec
	t.mu.Lock()
	for _, s := range specs {
		if !t.known[s.Name] && !slices.ContainsFunc(missing, func(m TopicSpec) bool { return m.Name == s.Name }) {
			missing = append(missing, s)
		}
	}
	t.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	for i, s := range missing {
		names[i] = s.Name
	}
	ch := t.flight.DoChan(strings.Join(names, "\x00"), func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
		defer cancel()
		return nil, t.create(cctx, missing)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return fmt.Errorf("%w: creating topic %s: %w", ErrKafka, names[0], ctx.Err())
	}
}

// createTimeout bounds a CreateTopics request with its retries; the
// controller is asked to answer within half of it.
const createTimeout = 30 * time.Second

func (t *Topics) create(ctx context.Context, specs []TopicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(createTimeout.Milliseconds() / 2)
	for _, s := range specs {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = s.Name
		rt.ReplicationFactor = s.ReplicationFactor
		if rt.ReplicationFactor == 0 {
			rt.ReplicationFactor = -1
		}
		rt.NumPartitions = s.Partitions
		if rt.NumPartitions == 0 {
			rt.NumPartitions = 1
		}
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, s.Configs[k]
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return fmt.Errorf("%w: creating topic %s: %w", ErrKafka, req.Topics[0].Topic, err)
	}
	for _, rt := range resp.Topics {
		err := kerr.ErrorForCode(rt.ErrorCode)
		if err != nil && rt.ErrorMessage != nil {
			err = fmt.Errorf("%w: %s", err, *rt.ErrorMessage)
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
				return fmt.Errorf("%w: creating topic %s: not authorized; grant CREATE on the cluster or topic to Sluice's principal, or create the topic beforehand: %w", ErrKafka, rt.Topic, err)
			}
			return fmt.Errorf("%w: creating topic %s: %w", ErrKafka, rt.Topic, err)
		}
		t.mu.Lock()
		t.known[rt.Topic] = true
		t.mu.Unlock()
	}
	return nil
}
