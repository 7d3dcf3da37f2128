package emit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
// they are.
type Topics struct {
	cl    *kgo.Client
	known map[string]bool
}

// NewTopics returns a topic manager using cl.
func NewTopics(cl *kgo.Client) *Topics {
	return &Topics{cl: cl, known: map[string]bool{}}
}

// Ensure creates the missing topics among specs, in one request: the
// internal topics of a first start cost one round trip to the controller,
// not one each.
func (t *Topics) Ensure(ctx context.Context, specs ...TopicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15_000
	if d, ok := ctx.Deadline(); ok {
		req.TimeoutMillis = int32(max(1, min(time.Until(d).Milliseconds(), 15_000)))
	}
	for _, s := range specs {
		if t.known[s.Name] || slices.ContainsFunc(req.Topics, func(rt kmsg.CreateTopicsRequestTopic) bool { return rt.Topic == s.Name }) {
			continue
		}
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
	if len(req.Topics) == 0 {
		return nil
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
		t.known[rt.Topic] = true
	}
	return nil
}
