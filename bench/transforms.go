package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchTransforms: the Postgres drain with transforms, beside the plain
// drain of the same backlog in the same run. Two backlogs, each in a
// database of its own: the drain scenario's orders workload (inserts,
// updates, deletes), drained plainly and with unwrap on the table; and
// an outbox table of rows of about the orders rows' size (inserts only,
// as a service writes them), drained plainly (its change topic) and
// routed by the outbox transform. Each run reads the same range from a
// slot of its own; the runs are interleaved.
func benchTransforms(ctx context.Context, e *benchEnv) ([]result, error) {
	odsn, odb, err := e.db(ctx, "tforders")
	if err != nil {
		return nil, err
	}
	defer odb.Close(ctx)
	defer dropSlots(ctx, odb)
	xdsn, xdb, err := e.db(ctx, "tfoutbox")
	if err != nil {
		return nil, err
	}
	defer xdb.Close(ctx)
	defer dropSlots(ctx, xdb)
	for _, q := range []string{tableDDL("orders"), genProc("orders")} {
		if _, err := odb.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	if _, err := xdb.Exec(ctx, outboxDDL); err != nil {
		return nil, err
	}
	type variant struct {
		dsn, table, extra string
		db                *pgx.Conn
	}
	variants := map[string]variant{
		"plain":   {odsn, "public.orders", "", odb},
		"unwrap":  {odsn, "public.orders", "transforms:\n  - {type: unwrap, tables: [public.orders]}\n", odb},
		"oxplain": {xdsn, "public.outbox", "", xdb},
		"outbox":  {xdsn, "public.outbox", "transforms:\n  - {type: outbox, table: public.outbox}\n", xdb},
	}
	// plain unwrap oxplain outbox, then outbox oxplain unwrap plain, ...:
	// each kind's runs are centred on the same moment, so a steady drift
	// of the load cancels out of the ratios of the means.
	var seq []string
	for i := 1; i <= *flagDrainRuns; i++ {
		kinds := []string{"plain", "unwrap", "oxplain", "outbox"}
		if i%2 == 0 {
			slices.Reverse(kinds)
		}
		for _, k := range kinds {
			seq = append(seq, fmt.Sprintf("tf_%s_%d", k, i))
		}
	}
	kind := func(n string) string { return strings.Split(n, "_")[1] }
	cfgs := map[string]string{}
	for _, n := range seq {
		v := variants[kind(n)]
		cfg, err := e.config(n, v.dsn, v.table, "snapshot: {mode: never}\n"+v.extra)
		if err != nil {
			return nil, err
		}
		cfgs[n] = cfg
		// The first start creates the slot before the workload.
		p, err := e.start(cfg)
		if err != nil {
			return nil, err
		}
		start, _ := walLSN(ctx, v.db)
		if _, err := p.waitCheckpoint(start, 2*time.Minute); err != nil {
			return nil, err
		}
		p.stop()
	}
	logf("writing %d changes to orders and %d outbox rows", *flagChanges, *flagChanges)
	if _, err := odb.Exec(ctx, fmt.Sprintf("CALL gen_orders(%d)", *flagChanges)); err != nil {
		return nil, err
	}
	if _, err := xdb.Exec(ctx, fmt.Sprintf("CALL gen_outbox(%d)", *flagChanges)); err != nil {
		return nil, err
	}
	ochanges, err := changesOf(ctx, odb, "orders")
	if err != nil {
		return nil, err
	}
	xchanges, err := changesOf(ctx, xdb, "outbox")
	if err != nil {
		return nil, err
	}
	// Both ends are taken after both workloads, so every run reads the
	// whole range (the other database's WAL is skipped by the decoder).
	end, err := walLSN(ctx, odb)
	if err != nil {
		return nil, err
	}
	var avgRow float64
	if err := xdb.QueryRow(ctx, `SELECT avg(pg_column_size(o.*)) FROM outbox o`).Scan(&avgRow); err != nil {
		return nil, err
	}
	var avgOrder float64
	if err := odb.QueryRow(ctx, `SELECT avg(pg_column_size(o.*)) FROM orders o`).Scan(&avgOrder); err != nil {
		return nil, err
	}
	logf("%d orders changes (rows of %.0f bytes), %d outbox rows of %.0f bytes; WAL end %s", ochanges, avgOrder, xchanges, avgRow, end)

	type run struct{ rate, cpu float64 }
	runs := map[string][]run{}
	for _, n := range seq {
		changes := ochanges
		if k := kind(n); k == "oxplain" || k == "outbox" {
			changes = xchanges
		}
		p, err := e.start(cfgs[n])
		if err != nil {
			return nil, err
		}
		at, err := p.waitCheckpoint(end, 30*time.Minute)
		if err != nil {
			return nil, err
		}
		cpu := p.cpuSeconds()
		p.stop()
		rate := float64(changes) / at.Sub(p.started).Seconds()
		cpuUS := cpu * 1e6 / float64(changes)
		logf("%s: %.0f changes/s, %.2f CPU µs a change", n, rate, cpuUS)
		runs[kind(n)] = append(runs[kind(n)], run{rate: rate, cpu: cpuUS})
	}
	mean := func(k string) (rate, lo, hi, cpu float64) {
		rs := runs[k]
		for i, r := range rs {
			rate += r.rate / float64(len(rs))
			cpu += r.cpu / float64(len(rs))
			if i == 0 || r.rate < lo {
				lo = r.rate
			}
			hi = max(hi, r.rate)
		}
		return
	}
	var out []result
	for _, c := range []struct{ name, kind, base string }{
		{"postgres drain with unwrap", "unwrap", "plain"},
		{"postgres drain with the outbox router", "outbox", "oxplain"},
	} {
		r, lo, hi, cpu := mean(c.kind)
		br, blo, bhi, bcpu := mean(c.base)
		changes := ochanges
		if c.kind == "outbox" {
			changes = xchanges
		}
		out = append(out, result{Scenario: c.name, Figures: map[string]float64{
			"changes":                        float64(changes),
			"runs":                           float64(len(runs[c.kind])),
			"sluice_changes_per_s":           r,
			"sluice_changes_per_s_min":       lo,
			"sluice_changes_per_s_max":       hi,
			"plain_changes_per_s":            br,
			"plain_changes_per_s_min":        blo,
			"plain_changes_per_s_max":        bhi,
			"ratio_to_plain":                 r / br,
			"sluice_cpu_us_per_change":       cpu,
			"plain_cpu_us_per_change":        bcpu,
			"plain_over_transform_cpu_ratio": bcpu / cpu,
			"outbox_row_bytes":               avgRow,
			"orders_row_bytes":               avgOrder,
		}, Notes: "means of the runs, interleaved (plain unwrap outbox-plain outbox, then reversed); exactly-once; " +
			"each run drains its own slot over the same range; unwrap: the drain scenario's orders workload (inserts, updates, deletes) " +
			"with and without unwrap; outbox: an outbox table (inserts only, jsonb payload) drained as a change topic and routed by the outbox transform; " +
			"CPU: Sluice's whole process from start to the last checkpoint"})
	}
	return out, nil
}

// The outbox table, Debezium's default columns, and a procedure that
// inserts n events in transactions of 1 to 100 rows; the row size is
// about that of the orders rows (~200 bytes).
const outboxDDL = `CREATE TABLE outbox (
  id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL,
  type varchar(255) NOT NULL, payload jsonb);
CREATE PROCEDURE gen_outbox(n bigint) LANGUAGE plpgsql AS $$
DECLARE done bigint := 0; sz int;
BEGIN
  WHILE done < n LOOP
    sz := least(1 + floor(random() * 100)::int, n - done);
    INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload)
      SELECT gen_random_uuid(), (ARRAY['Order','Customer','Payment'])[1 + g % 3], (g % 1000)::text, 'OrderCreated',
        jsonb_build_object('id', g, 'account', g % 1000, 'amount', (g % 100000) / 100.0, 'qty', g % 50,
          'status', 'pending', 'sku', 'SKU-' || (g % 99999), 'note', md5(g::text))
      FROM generate_series(done + 1, done + sz) g;
    done := done + sz;
    COMMIT;
  END LOOP;
END $$`
