package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/schema"
)

// benchFreshness runs a steady change rate for a while and measures, per
// event, the Kafka record timestamp minus the source commit time, and the
// time a read_committed consumer sees it minus the commit time.
func benchFreshness(ctx context.Context, e *benchEnv) ([]result, error) {
	dsn, db, err := e.db(ctx, "fresh")
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, tableDDL("events")); err != nil {
		return nil, err
	}
	var out []result
	for _, rs := range strings.Split(*flagRates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(rs))
		if err != nil {
			return nil, err
		}
		for _, eos := range []bool{true, false} {
			name := fmt.Sprintf("fresh_%d_%v", rate, eos)
			// A short commit interval: in exactly-once mode events become
			// visible when their transaction commits.
			cfg, err := e.config(name, dsn, "public.events", "snapshot: {mode: never}\ncheckpoint: {interval: 50ms}\n")
			if err != nil {
				return nil, err
			}
			p, err := e.start(cfg, fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", eos))
			if err != nil {
				return nil, err
			}
			start, _ := walLSN(ctx, db)
			if _, err := p.waitCheckpoint(start, 2*time.Minute); err != nil {
				return nil, err
			}
			reg, err := schema.NewRegistry(schema.RegistryOptions{URL: e.reg.URL})
			if err != nil {
				return nil, err
			}
			dec := schema.NewDecoder(reg)
			cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...), kgo.ConsumeTopics(name+".public.events"),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(10*time.Millisecond))
			if err != nil {
				return nil, err
			}
			var mu sync.Mutex
			var recLat, visLat []float64
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			consumed := make(chan struct{})
			go func() {
				defer close(consumed)
				for cctx.Err() == nil {
					fs := cl.PollFetches(cctx)
					now := time.Now()
					fs.EachRecord(func(r *kgo.Record) {
						if r.Value == nil {
							return
						}
						j, err := dec.JSON(cctx, r.Value)
						if err != nil {
							return
						}
						var v struct {
							Source struct {
								TsMs int64 `json:"ts_ms"`
							} `json:"source"`
						}
						if json.Unmarshal(j, &v) != nil {
							return
						}
						commit := time.UnixMilli(v.Source.TsMs)
						mu.Lock()
						recLat = append(recLat, float64(r.Timestamp.Sub(commit).Microseconds())/1000)
						visLat = append(visLat, float64(now.Sub(commit).Microseconds())/1000)
						mu.Unlock()
					})
				}
			}()
			// 10 rows a transaction, rate/10 transactions a second.
			logf("freshness: %d changes/s for %ds (exactly_once=%v)", rate, *flagFreshSecs, eos)
			tick := time.NewTicker(time.Second / time.Duration(rate/10))
			next := nextFreshID
			deadline := time.Now().Add(time.Duration(*flagFreshSecs) * time.Second)
			for time.Now().Before(deadline) {
				<-tick.C
				if _, err := db.Exec(ctx, fmt.Sprintf(`INSERT INTO events (id, account, amount, qty, status, updated, sku, flag, note)
				  SELECT g, 1, 1.5, 1, 'new', now(), 'SKU', true, 'x' FROM generate_series(%d, %d) g`, next, next+9)); err != nil {
					return nil, err
				}
				next += 10
			}
			tick.Stop()
			nextFreshID = next
			time.Sleep(2 * time.Second)
			cancel()
			<-consumed
			cl.Close()
			rss := p.peakRSS()
			p.stop()
			mu.Lock()
			n := len(recLat)
			res := result{Scenario: fmt.Sprintf("freshness %d/s (exactly_once=%v)", rate, eos), Figures: map[string]float64{
				"events": float64(n), "produced_ms_p50": pct(recLat, 50), "produced_ms_p99": pct(recLat, 99), "produced_ms_max": pct(recLat, 100),
				"visible_ms_p50": pct(visLat, 50), "visible_ms_p99": pct(visLat, 99), "visible_ms_max": pct(visLat, 100),
				"peak_rss_mib": rss,
			}, Notes: "produced: Kafka record timestamp - source commit time; visible: read_committed consumer receives it - commit time (commit times have ms resolution)"}
			mu.Unlock()
			out = append(out, res)
		}
	}
	return out, nil
}

var nextFreshID int64 = 1

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
