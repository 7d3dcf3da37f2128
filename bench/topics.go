package main

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicsNow lists the broker's topics.
func (e *benchEnv) topicsNow(ctx context.Context) (map[string]bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, t := range td.Names() {
		out[t] = true
	}
	return out, nil
}

// dropTopics deletes the topics a scenario wrote (every topic but the
// broker's and the registry's, those there when the bench started, and
// the broker warm-up's): with the servers' data on a tmpfs, the topics of
// a whole bench (more than 15 GB) would not fit in memory, and those of
// one scenario do.
func (e *benchEnv) dropTopics(ctx context.Context) error {
	now, err := e.topicsNow(ctx)
	if err != nil {
		return err
	}
	var drop []string
	for t := range now {
		if !e.keepTopics[t] && !strings.HasPrefix(t, "__") && !strings.HasPrefix(t, "bench.warm") {
			drop = append(drop, t)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	rs, err := kadm.NewClient(cl).DeleteTopics(ctx, drop...)
	if err != nil {
		return err
	}
	return rs.Error()
}
