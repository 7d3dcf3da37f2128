package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/devmode"
	"github.com/sluicecdc/sluice/schema"
)

type tailLine struct {
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
}

// TailOptions configure Tail.
type TailOptions struct {
	Topics        []string
	FromBeginning bool
	Max           int // 0: no limit
}

// Tail consumes change topics read_committed, decodes every record through
// the registry and prints one JSON object per line. With no brokers or
// registry configured it reads from the development addresses a `sluice
// run` in embedded mode listens on.
func Tail(ctx context.Context, cfg *config.Config, o TailOptions, w io.Writer) error {
	return explain(cfg, tail(ctx, cfg, o, w))
}

func tail(ctx context.Context, cfg *config.Config, o TailOptions, w io.Writer) error {
	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 {
		brokers = []string{"127.0.0.1:" + strconv.Itoa(devmode.BrokerPort)}
	}
	url := cfg.SchemaRegistry.URL
	if url == "" {
		url = "http://" + devmode.RegistryAddr
	}
	ktls, err := TLSConfig(cfg.Kafka.TLS, "kafka")
	if err != nil {
		return err
	}
	rtls, err := TLSConfig(cfg.SchemaRegistry.TLS, "schema_registry")
	if err != nil {
		return err
	}
	reg, err := schema.NewRegistry(registryOptions(url, cfg.SchemaRegistry, rtls))
	if err != nil {
		return err
	}
	dec := schema.NewDecoder(reg)
	reset := kgo.NewOffset().AtEnd()
	if o.FromBeginning {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(o.Topics...), kgo.ConsumeResetOffset(reset),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
	if ktls != nil {
		opts = append(opts, kgo.DialTLSConfig(ktls))
	}
	if m := saslMechanism(cfg.Kafka.SASL); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// The consumer retries failed connections for ever, rejected
	// credentials included: fail now instead when no broker answers.
	if err := cl.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kafka %s: %w", strings.Join(brokers, ","), err)
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("kafka: %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			line := tailLine{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: json.RawMessage("null"), Value: json.RawMessage("null")}
			if r.Key != nil {
				k, err := dec.Render(ctx, r.Key)
				if err != nil {
					return fmt.Errorf("%s[%d]@%d key: %w", r.Topic, r.Partition, r.Offset, err)
				}
				line.Key = k
			}
			if r.Value != nil {
				v, err := dec.Render(ctx, r.Value)
				if err != nil {
					return fmt.Errorf("%s[%d]@%d value: %w", r.Topic, r.Partition, r.Offset, err)
				}
				line.Value = v
			}
			b, err := json.Marshal(line)
			if err != nil {
				return err
			}
			_, _ = bw.Write(append(b, '\n'))
			n++
			if o.Max > 0 && n >= o.Max {
				return nil
			}
		}
		_ = bw.Flush()
	}
}
