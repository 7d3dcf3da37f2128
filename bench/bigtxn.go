package main

import (
	"context"
	"fmt"
	"time"
)

// benchBigTxn: one transaction of many rows while Sluice streams; the
// figure is Sluice's peak RSS, which must not grow with the transaction.
func benchBigTxn(ctx context.Context, e *benchEnv) ([]result, error) {
	dsn, db, err := e.db(ctx, "bigtxn")
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, tableDDL("big")); err != nil {
		return nil, err
	}
	cfg, err := e.config("bigtxn", dsn, "public.big", "snapshot: {mode: never}\n")
	if err != nil {
		return nil, err
	}
	p, err := e.start(cfg)
	if err != nil {
		return nil, err
	}
	start, _ := walLSN(ctx, db)
	if _, err := p.waitCheckpoint(start, 2*time.Minute); err != nil {
		return nil, err
	}
	idle := p.peakRSS()
	t0 := time.Now()
	if _, err := db.Exec(ctx, fmt.Sprintf(`INSERT INTO big (id, account, amount, qty, status, updated, sku, flag, note)
	  SELECT g, g %% 1000, (g %% 100000) / 100.0, g %% 50, 'pending', now(), 'SKU-' || (g %% 99999), g %% 2 = 0, %s
	  FROM generate_series(1, %d) g`, noteExpr(), *flagBigTxn)); err != nil {
		return nil, err
	}
	end, _ := walLSN(ctx, db)
	at, err := p.waitCheckpoint(end, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	rss := p.peakRSS()
	p.stop()
	logf("big transaction: %d rows delivered %s after the insert started, peak RSS %.0f MiB", *flagBigTxn, at.Sub(t0).Round(time.Millisecond), rss)
	return []result{{Scenario: fmt.Sprintf("one %d-row transaction", *flagBigTxn), Figures: map[string]float64{
		"rows": float64(*flagBigTxn), "peak_rss_mib": rss, "peak_rss_before_mib": idle,
		"rows_per_s": float64(*flagBigTxn) / at.Sub(t0).Seconds(),
	}, Notes: "exactly-once: the whole transaction is one Kafka transaction"}}, nil
}
