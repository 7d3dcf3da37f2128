package emit

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
	adm   *kadm.Client
	known map[string]bool
}

// NewTopics returns a topic manager using cl.
func NewTopics(cl *kgo.Client) *Topics {
	return &Topics{adm: kadm.NewClient(cl), known: map[string]bool{}}
}

// Ensure creates the missing topics among specs.
func (t *Topics) Ensure(ctx context.Context, specs ...TopicSpec) error {
	for _, s := range specs {
		if t.known[s.Name] {
			continue
		}
		rf := s.ReplicationFactor
		if rf == 0 {
			rf = -1
		}
		p := s.Partitions
		if p == 0 {
			p = 1
		}
		resp, err := t.adm.CreateTopic(ctx, p, rf, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
				return fmt.Errorf("%w: creating topic %s: not authorized; grant CREATE on the cluster or topic to Sluice's principal, or create the topic beforehand: %w", ErrKafka, s.Name, err)
			}
			return fmt.Errorf("%w: creating topic %s: %w", ErrKafka, s.Name, err)
		}
		t.known[s.Name] = true
	}
	return nil
}
