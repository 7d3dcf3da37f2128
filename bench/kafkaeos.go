package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/emit"
)

// What the broker is sent in each run of benchEOSBroker: a drain's
// records (8-byte keys, 337-byte values, a tombstone every 12th), at a
// drain's rate on this machine and with a drain's commits (6 in 1M).
const (
	eosBrokerRate      = 200_000 // records a second
	eosBrokerPerCommit = 170_000
	eosBrokerValue     = 337
)

// benchEOSBroker measures what exactly-once costs the broker: the same
// records produced through Sluice's producer (emit.Producer, so Sluice's
// client settings) transactionally and idempotently, each run to topics
// of its own, in runs alternating eos alo alo eos ... after a warmed
// broker and two untimed runs of each mode. Nothing else runs meanwhile,
// so the broker's CPU is not disturbed by Postgres and Sluice competing
// for the cores, and the runs are paced so that its batches are a
// drain's, not those of a producer running flat out.
func benchEOSBroker(ctx context.Context, e *benchEnv) ([]result, error) {
	if err := e.warmBroker(ctx); err != nil {
		return nil, err
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	topics := emit.NewTopics(admin)
	n := *flagChanges
	val := make([]byte, eosBrokerValue)
	for i := range val {
		val[i] = byte(i * 7)
	}
	run := func(name string, eos bool) (jvmCPU, error) {
		topic, offsets := "bench.eos."+name, "_bench.eos."+name+".offsets"
		if err := topics.Ensure(ctx, emit.TopicSpec{Name: topic, Partitions: 1},
			emit.TopicSpec{Name: offsets, Partitions: 1, Configs: emit.OffsetsConfigs}); err != nil {
			return jvmCPU{}, err
		}
		o := emit.Options{Brokers: e.k.Brokers(), ClientID: "bench-eos"}
		if eos {
			o.TransactionalID = "bench-eos-" + name
		}
		p, err := emit.NewProducer(o)
		if err != nil {
			return jvmCPU{}, err
		}
		defer p.Close()
		if err := p.ClaimTransactionalID(ctx); err != nil {
			return jvmCPU{}, err
		}
		m := e.meter()
		t0 := time.Now()
		for i := range n {
			if i%500 == 0 {
				time.Sleep(time.Until(t0.Add(time.Duration(float64(i) / eosBrokerRate * float64(time.Second)))))
			}
			r := &kgo.Record{Topic: topic, Key: binary.BigEndian.AppendUint64(nil, uint64(i)), Value: val}
			if i%12 == 11 {
				r.Value = nil
			}
			if err := p.Produce(ctx, r); err != nil {
				return jvmCPU{}, err
			}
			if (i+1)%eosBrokerPerCommit == 0 || i == n-1 {
				cp := &kgo.Record{Topic: offsets, Key: []byte("checkpoint"), Value: []byte(strconv.Itoa(i))}
				if err := p.Commit(ctx, cp); err != nil {
					return jvmCPU{}, err
				}
			}
		}
		c := m.kafkaJVMSince()
		logf("eosbroker %s: %.0f records/s; broker CPU %.2f s: JIT %.2f, data plane %.2f, system %.2f",
			name, float64(n)/time.Since(t0).Seconds(), c.total, c.jit, c.dataPlane, c.sys)
		return c, nil
	}
	for i := range 2 {
		for _, eos := range []bool{true, false} {
			if _, err := run(fmt.Sprintf("warm%d_%v", i, eos), eos); err != nil {
				return nil, err
			}
		}
	}
	sum := map[bool]jvmCPU{}
	for i := range *flagEOSPairs {
		order := []bool{true, false}
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, eos := range order {
			name := fmt.Sprintf("alo_%d", i+1)
			if eos {
				name = fmt.Sprintf("eos_%d", i+1)
			}
			c, err := run(name, eos)
			if err != nil {
				return nil, err
			}
			s := sum[eos]
			sum[eos] = jvmCPU{s.total + c.total, s.jit + c.jit, s.gc + c.gc, s.dataPlane + c.dataPlane, s.sys + c.sys}
		}
	}
	perRecord := func(v float64) float64 { return v / float64(*flagEOSPairs) * 1e6 / float64(n) }
	var out []result
	for _, eos := range []bool{true, false} {
		s := sum[eos]
		mode := map[bool]string{true: "exactly-once", false: "at-least-once"}[eos]
		out = append(out, result{Scenario: "broker cost (" + mode + ")", Figures: map[string]float64{
			"records":                              float64(n),
			"runs":                                 float64(*flagEOSPairs),
			"broker_cpu_us_per_record":             perRecord(s.total),
			"broker_cpu_us_per_record_without_jit": perRecord(s.total - s.jit),
			"broker_jit_cpu_us_per_record":         perRecord(s.jit),
			"broker_data_plane_cpu_us_per_record":  perRecord(s.dataPlane),
			"broker_system_cpu_us_per_record":      perRecord(s.sys),
		}, Notes: fmt.Sprintf("the broker's CPU for the same records through emit.Producer (%d-byte values, a tombstone every 12th), "+
			"paced at %d records/s, a commit every %d records; runs alternate eos alo alo eos ..., after a warmed broker and two untimed runs of each mode; "+
			"jit: the broker's JIT compiler threads; data plane: its network and request-handler threads; the broker's live threads only",
			eosBrokerValue, eosBrokerRate, eosBrokerPerCommit)})
	}
	eosCPU, aloCPU := sum[true].total-sum[true].jit, sum[false].total-sum[false].jit
	out = append(out, result{Scenario: "broker cost of exactly-once", Figures: map[string]float64{
		"cpu_percent_without_jit":  100 * (eosCPU/aloCPU - 1),
		"cpu_s_per_1m_without_jit": (eosCPU - aloCPU) / float64(*flagEOSPairs) * 1e6 / float64(n),
	}, Notes: "the broker's CPU without its JIT's, exactly-once over at-least-once, from the means of the runs"})
	return out, nil
}
