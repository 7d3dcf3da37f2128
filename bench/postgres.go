package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The workload table: about 10 columns, about 200 bytes a row (2 KB with
// -wide).
func tableDDL(name string) string {
	return fmt.Sprintf(`CREATE TABLE %s (
  id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), qty int, status text,
  created timestamptz NOT NULL DEFAULT now(), updated timestamptz, sku text, flag boolean, note text)`, name)
}

func noteExpr() string {
	if *flagWide {
		return `repeat(md5(g::text), 58)`
	}
	return `md5(g::text) || md5((g+1)::text) || md5((g+2)::text)`
}

// genProc creates a procedure that commits n changes (inserts, updates,
// deletes) in transactions of 1 to 100 rows.
func genProc(table string) string {
	return fmt.Sprintf(`CREATE PROCEDURE gen_%[1]s(n bigint) LANGUAGE plpgsql AS $$
DECLARE done bigint := 0; next_id bigint := 1; sz int; c bigint;
BEGIN
  WHILE done < n LOOP
    sz := 1 + floor(random() * 100)::int;
    INSERT INTO %[1]s (id, account, amount, qty, status, updated, sku, flag, note)
      SELECT g, g %% 1000, (g %% 100000) / 100.0, g %% 50, 'pending', now(), 'SKU-' || (g %% 99999), g %% 2 = 0, %[2]s
      FROM generate_series(next_id, next_id + sz - 1) g;
    done := done + sz; next_id := next_id + sz;
    IF next_id > 1000 THEN
      UPDATE %[1]s SET status = 'paid', qty = qty + 1, updated = now()
        WHERE id BETWEEN next_id - 1000 AND next_id - 1000 + sz / 5;
      GET DIAGNOSTICS c = ROW_COUNT; done := done + c;
      DELETE FROM %[1]s WHERE id BETWEEN next_id - 900 AND next_id - 900 + sz / 10;
      GET DIAGNOSTICS c = ROW_COUNT; done := done + c;
    END IF;
    COMMIT;
  END LOOP;
END $$`, table, noteExpr())
}

func changesOf(ctx context.Context, db *pgx.Conn, table string) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = $1`, table).Scan(&n)
	return n, err
}

// benchPostgresDrain: a backlog of committed changes waits in the slot;
// Sluice drains it (exactly-once and at-least-once, each from its own slot
// at the same start), and pg_recvlogical reads the same range with
// pgoutput to /dev/null, and into Kafka.
func benchPostgresDrain(ctx context.Context, e *benchEnv) ([]result, error) {
	dsn, db, err := e.db(ctx, "drain")
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	defer dropSlots(ctx, db)
	for _, q := range []string{tableDDL("orders"), genProc("orders")} {
		if _, err := db.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	// Every run reads the same range from a slot of its own, created
	// before the workload: Sluice in each delivery mode, pg_recvlogical to
	// /dev/null ("null") and pg_recvlogical into Kafka ("kafka"), each
	// *flagDrainRuns times after a warm-up, in the order eos null kafka alo, then alo
	// kafka null eos, ...: on a shared machine the load drifts, and each
	// kind's runs are centred on the same moment, so a steady drift
	// cancels out of the ratios of the means. (The first run is Sluice's,
	// so the Kafka limit can sample the size of its records.)
	// An untimed Sluice run first warms what the first timed run would
	// otherwise pay for alone: the broker's JIT and transaction path, the
	// WAL in the page cache, the walsender's catalog caches (run alone,
	// the first exactly-once run was up to a third slower than the rest).
	// That run is not enough for the broker's JIT (see warmBroker), which
	// then gets small produce requests until it goes quiet; each run's
	// broker CPU is reported with its JIT part, which stays noisy.
	seq := []string{"drain_warm_0"}
	for i := 1; i <= *flagDrainRuns; i++ {
		kinds := []string{"eos", "null", "kafka", "alo"}
		if i%2 == 0 {
			slices.Reverse(kinds)
		}
		for _, k := range kinds {
			seq = append(seq, fmt.Sprintf("drain_%s_%d", k, i))
		}
	}
	kind := func(n string) string { return strings.Split(n, "_")[1] }
	cfgs := map[string]string{}
	for _, n := range seq {
		if k := kind(n); k == "null" || k == "kafka" {
			if _, err := db.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, n); err != nil {
				return nil, err
			}
			continue
		}
		// Sluice's slot: snapshot never (the table is empty).
		cfg, err := e.config(n, dsn, "public.orders", "snapshot: {mode: never}\n")
		if err != nil {
			return nil, err
		}
		cfgs[n] = cfg
		p, err := e.start(cfg, eosEnv(n))
		if err != nil {
			return nil, err
		}
		start, _ := walLSN(ctx, db)
		if _, err := p.waitCheckpoint(start, 2*time.Minute); err != nil {
			return nil, err
		}
		p.stop()
	}
	logf("writing %d changes", *flagChanges)
	t0 := time.Now()
	if _, err := db.Exec(ctx, fmt.Sprintf("CALL gen_orders(%d)", *flagChanges)); err != nil {
		return nil, err
	}
	changes, err := changesOf(ctx, db, "orders")
	if err != nil {
		return nil, err
	}
	end, err := walLSN(ctx, db)
	if err != nil {
		return nil, err
	}
	logf("%d changes written in %s; WAL end %s", changes, time.Since(t0).Round(time.Millisecond), end)
	// Settle the database before the first timed run: autovacuum and the
	// checkpoint that 1M changes set off would otherwise run during it
	// (the first run, always exactly-once, was a third slower than the
	// others). Their WAL comes after end, which every run stops at.
	for _, q := range []string{"VACUUM (ANALYZE) orders", "CHECKPOINT"} {
		if _, err := db.Exec(ctx, q); err != nil {
			return nil, err
		}
	}

	// The limits: pg_recvlogical, pgoutput, Sluice's publication, to
	// /dev/null, and the same into Kafka.
	recvArgs := func(slot string) []string {
		return []string{"-d", dsn, "--slot", slot, "--start", "-o", "proto_version=1",
			"-o", "publication_names=sluice_drain_eos_1", "-E", end.String(), "--no-loop", "-f", "-"}
	}
	recvBin := filepath.Join(pgBinDir(), "pg_recvlogical")
	// cpu: the reader's (limits) or Sluice's CPU seconds; prodCPU: the
	// limit's producer's; kafkaCPU: the broker's over the run.
	type run struct{ rate, rss, cpu, prodCPU, kafkaCPU, kafkaJIT float64 }
	runs := map[string][]run{} // by kind
	limits := map[string]string{}
	var shapes []recordShape
	var parts int32
	for _, n := range seq {
		switch kind(n) {
		case "null":
			recv, err := devNullLimit(recvBin, recvArgs(n)...)
			if err != nil {
				return nil, err
			}
			runs["null"] = append(runs["null"], run{rate: float64(changes) / recv.took.Seconds(), cpu: recv.cpu})
			limits["pg_recvlogical_changes_per_s"] = recv.cmdline
			logf("pg_recvlogical: %.0f changes/s", float64(changes)/recv.took.Seconds())
		case "kafka":
			if shapes == nil {
				if shapes, parts, err = e.sampleShapes(ctx, seq[0]+".public.orders", 100_000); err != nil {
					return nil, err
				}
			}
			kl, err := e.kafkaLimit(ctx, "bench.limit."+n, parts, shapes, pgoutputChanges, recvBin, recvArgs(n)...)
			if err != nil {
				return nil, err
			}
			if kl.changes != changes {
				logf("warning: pg_recvlogical printed %d changes, the table counts %d", kl.changes, changes)
			}
			runs["kafka"] = append(runs["kafka"], run{rate: float64(changes) / kl.took.Seconds(), cpu: kl.cpu, prodCPU: kl.prodCPU, kafkaCPU: kl.kafkaCPU})
			limits["pg_recvlogical_kafka_changes_per_s"] = kl.cmdline
			logf("pg_recvlogical into Kafka: %.0f changes/s", float64(changes)/kl.took.Seconds())
		default:
			m := e.meter()
			p, err := e.start(cfgs[n], eosEnv(n))
			if err != nil {
				return nil, err
			}
			at, err := p.waitCheckpoint(end, 30*time.Minute)
			if err != nil {
				return nil, err
			}
			d := at.Sub(p.started)
			rss := p.peakRSS()
			cpu := p.cpuSeconds()
			_, kafkaCPU := m.since()
			jvm := m.kafkaJVMSince()
			p.stop()
			rate := float64(changes) / d.Seconds()
			logf("%s: %.0f changes/s, peak RSS %.0f MiB; CPU seconds: sluice %.2f, kafka %.2f (JIT %.2f, GC %.2f)",
				n, rate, rss, cpu, kafkaCPU, jvm.jit, jvm.gc)
			if kind(n) == "warm" {
				// Not counted; and the broker's JIT is not done yet.
				if err := e.warmBroker(ctx); err != nil {
					return nil, err
				}
				continue
			}
			runs[kind(n)] = append(runs[kind(n)], run{rate: rate, rss: rss, cpu: cpu, kafkaCPU: kafkaCPU, kafkaJIT: jvm.jit})
		}
	}
	meanRate := func(rs []run) (mean, lo, hi float64) {
		for i, r := range rs {
			mean += r.rate / float64(len(rs))
			if i == 0 || r.rate < lo {
				lo = r.rate
			}
			hi = max(hi, r.rate)
		}
		return
	}
	// CPU microseconds per change of the limits' processes (the reader's
	// writes into a pipe cost it more than into /dev/null).
	cpuPerChange := func(rs []run, f func(run) float64) float64 {
		var sum float64
		for _, r := range rs {
			sum += f(r)
		}
		return sum / float64(len(rs)) * 1e6 / float64(changes)
	}
	recvCPU := cpuPerChange(runs["null"], func(r run) float64 { return r.cpu })
	kafkaReaderCPU := cpuPerChange(runs["kafka"], func(r run) float64 { return r.cpu })
	kafkaProducerCPU := cpuPerChange(runs["kafka"], func(r run) float64 { return r.prodCPU })
	kafkaBrokerCPU := cpuPerChange(runs["kafka"], func(r run) float64 { return r.kafkaCPU })
	recvRate, recvLo, recvHi := meanRate(runs["null"])
	kafkaRate, kafkaLo, kafkaHi := meanRate(runs["kafka"])
	keyB, valB, tombs := meanShape(shapes)

	var out []result
	mean := map[string]float64{}
	for _, mode := range []string{"exactly-once", "at-least-once"} {
		k := map[string]string{"exactly-once": "eos", "at-least-once": "alo"}[mode]
		var sum, lo, hi, rss, cpu, kcpu, kjit float64
		for i, r := range runs[k] {
			sum += r.rate
			cpu += r.cpu
			kcpu += r.kafkaCPU
			kjit += r.kafkaJIT
			rss = max(rss, r.rss)
			if i == 0 || r.rate < lo {
				lo = r.rate
			}
			hi = max(hi, r.rate)
		}
		n := float64(len(runs[k]))
		mean[mode] = sum / n
		out = append(out, result{Scenario: "postgres drain (" + mode + ")", Figures: map[string]float64{
			"changes":                                float64(changes),
			"runs":                                   n,
			"sluice_changes_per_s":                   mean[mode],
			"sluice_changes_per_s_min":               lo,
			"sluice_changes_per_s_max":               hi,
			"pg_recvlogical_changes_per_s":           recvRate,
			"pg_recvlogical_changes_per_s_min":       recvLo,
			"pg_recvlogical_changes_per_s_max":       recvHi,
			"pg_recvlogical_kafka_changes_per_s_min": kafkaLo,
			"pg_recvlogical_kafka_changes_per_s_max": kafkaHi,
			"ratio_to_limit":                         mean[mode] / recvRate,
			"pg_recvlogical_kafka_changes_per_s":     kafkaRate,
			"ratio_to_kafka_limit":                   mean[mode] / kafkaRate,
			"pg_recvlogical_cpu_us_per_change":       recvCPU,
			"kafka_limit_reader_cpu_us_per_change":   kafkaReaderCPU,
			"kafka_limit_producer_cpu_us_per_change": kafkaProducerCPU,
			"kafka_limit_broker_cpu_us_per_change":   kafkaBrokerCPU,
			"kafka_broker_cpu_us_per_change":         kcpu / n * 1e6 / float64(changes),
			"kafka_broker_jit_cpu_us_per_change":     kjit / n * 1e6 / float64(changes),
			"record_key_bytes":                       keyB,
			"record_value_bytes":                     valB,
			"tombstones_per_change":                  tombs,
			"peak_rss_mib":                           rss,
			"sluice_cpu_us_per_change":               cpu / n * 1e6 / float64(changes),
		}, Limits: limits, Notes: "means of the runs, interleaved (eos null kafka alo alo kafka null eos ...); each run drains its own slot over the same range; " +
			"limit: pg_recvlogical to /dev/null (reading only); kafka limit: pg_recvlogical's output split into changes, " +
			"each sent as a pre-encoded record of the size Sluice wrote (not transactional); " +
			"kafka_broker_cpu_us_per_change: the broker's CPU over Sluice's runs (kafka_broker_jit_cpu_us_per_change: the part its JIT compiler threads used), " +
			"kafka_limit_broker_cpu_us_per_change over the kafka limit's; " +
			"before the timed runs, a warm-up drain and then small produce requests until the broker's JIT goes quiet"})
	}
	// Each round's exactly-once and at-least-once runs also make a pair
	// (they ran next to each other, so the drift of the load between them
	// is small): the median of the pairs' costs is a second estimate, less
	// moved by one slow run than the ratio of the means.
	costs := map[string]float64{
		"eos_over_alo_throughput": mean["exactly-once"] / mean["at-least-once"],
		"cost_percent":            100 * (1 - mean["exactly-once"]/mean["at-least-once"]),
	}
	var pairs []float64
	for i := range min(len(runs["eos"]), len(runs["alo"])) {
		c := 100 * (1 - runs["eos"][i].rate/runs["alo"][i].rate)
		pairs = append(pairs, c)
		costs[fmt.Sprintf("cost_percent_round_%d", i+1)] = c
	}
	if len(pairs) > 0 {
		slices.Sort(pairs)
		med := pairs[len(pairs)/2]
		if len(pairs)%2 == 0 {
			med = (pairs[len(pairs)/2-1] + med) / 2
		}
		costs["cost_percent_median_of_rounds"] = med
	}
	logf("exactly-once cost: %.1f%% from the means, %.1f%% the median of %d rounds", costs["cost_percent"], costs["cost_percent_median_of_rounds"], len(pairs))
	out = append(out, result{Scenario: "exactly-once cost", Figures: costs,
		Notes: "cost_percent from the mean drain rates of the two modes, runs interleaved; cost_percent_round_i from round i's two runs, and their median"})
	return out, nil
}

// dropSlots drops the replication slots of db's database that no one
// reads: a scenario's slots would otherwise hold their WAL, and the
// server's slots, for the rest of the bench.
func dropSlots(ctx context.Context, db *pgx.Conn) {
	if _, err := db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
	  WHERE database = current_database() AND NOT active`); err != nil {
		logf("dropping the scenario's replication slots: %v", err)
	}
}

func eosEnv(name string) string {
	return fmt.Sprintf("SLUICE_KAFKA_EXACTLY_ONCE=%v", !strings.Contains(name, "_alo"))
}

func pgBinDir() string { return "/usr/lib/postgresql/15/bin" }

// benchPostgresSnapshot: Sluice snapshots a table into Kafka; the limits
// are psql's COPY of the same table to /dev/null, and into Kafka.
func benchPostgresSnapshot(ctx context.Context, e *benchEnv) ([]result, error) {
	dsn, db, err := e.db(ctx, "snap")
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, tableDDL("items")); err != nil {
		return nil, err
	}
	logf("loading %d rows", *flagSnapRows)
	if _, err := db.Exec(ctx, fmt.Sprintf(`INSERT INTO items (id, account, amount, qty, status, updated, sku, flag, note)
	  SELECT g, g %% 1000, (g %% 100000) / 100.0, g %% 50, 'pending', now(), 'SKU-' || (g %% 99999), g %% 2 = 0, %s
	  FROM generate_series(1, %d) g`, noteExpr(), *flagSnapRows)); err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, "VACUUM ANALYZE items"); err != nil {
		return nil, err
	}
	// Pages written out and no autovacuum while the readers are measured.
	if _, err := db.Exec(ctx, "ALTER TABLE items SET (autovacuum_enabled = false); CHECKPOINT"); err != nil {
		return nil, err
	}
	// The timed runs: *flagSnapRuns rounds of COPY, Sluice and COPY into
	// Kafka, every other round in reverse (COPY into Kafka, Sluice, COPY):
	// on a shared machine the load drifts, and each kind's runs are
	// centred on the same moment, so a steady drift cancels out of the
	// ratios of the means. Then Sluice with lz4, reading one range, and
	// with larger chunks, each once, and COPY once more.
	copyArgs := []string{"-X", "-q", dsn, "-c", `COPY (SELECT * FROM items) TO STDOUT`}
	var copyRates, copyCPUs []float64
	var copyCmd string
	runCopy := func() error {
		m := e.meter()
		cp, err := devNullLimit("psql", copyArgs...)
		if err != nil {
			return err
		}
		pg, _ := m.since()
		rate := float64(*flagSnapRows) / cp.took.Seconds()
		copyRates, copyCPUs = append(copyRates, rate), append(copyCPUs, pg+cp.cpu)
		copyCmd = cp.cmdline
		logf("psql COPY: %.0f rows/s", rate)
		return nil
	}
	type variant struct{ name, env, scenario string }
	runSluice := func(v variant) (result, error) {
		cfg, err := e.config(v.name, dsn, "public.items", "snapshot: {mode: initial_only}\n")
		if err != nil {
			return result{}, err
		}
		m := e.meter()
		var env []string
		if v.env != "" {
			env = append(env, v.env)
		}
		p, err := e.start(cfg, env...)
		if err != nil {
			return result{}, err
		}
		<-p.done
		_ = p.cmd.Wait()
		if p.snapEnd.IsZero() {
			return result{}, fmt.Errorf("snapshot did not complete: %s", p.tail())
		}
		pgCPU, kafkaCPU := m.since()
		jvm := m.kafkaJVMSince()
		sluiceCPU := p.cmd.ProcessState.UserTime().Seconds() + p.cmd.ProcessState.SystemTime().Seconds()
		var rss float64
		if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = float64(ru.Maxrss) / 1024 // KiB
		}
		rate := float64(*flagSnapRows) / p.snapEnd.Sub(p.started).Seconds()
		bc, err := e.countBatches(ctx, v.name+".public.items")
		if err != nil {
			return result{}, err
		}
		logf("%s: %.0f rows/s, peak RSS %.0f MiB; CPU seconds: sluice %.2f, kafka %.2f (JIT %.2f, GC %.2f, requests %.2f), postgres %.2f; %d batches in the topic, %.0f records each",
			v.scenario, rate, rss, sluiceCPU, kafkaCPU, jvm.jit, jvm.gc, jvm.dataPlane, pgCPU, bc.batches, bc.perBatch())
		return result{Scenario: v.scenario, Figures: map[string]float64{
			"rows": float64(*flagSnapRows), "sluice_rows_per_s": rate,
			"sluice_cpu_s": sluiceCPU, "kafka_cpu_s": kafkaCPU, "kafka_jit_cpu_s": jvm.jit, "kafka_gc_cpu_s": jvm.gc, "postgres_cpu_s": pgCPU, "peak_rss_mib": rss,
			"topic_batches": float64(bc.batches), "records_per_batch": bc.perBatch(),
		}, Notes: "sluice: start to the snapshot's last checkpoint in Kafka (exactly-once), peak RSS of the whole run; " +
			"limit: psql COPY to /dev/null (reading only), mean of a run before and after; " +
			"kafka limit: COPY's rows, each sent as a pre-encoded record of the size Sluice wrote (not transactional, not compressed); " +
			"CPU seconds of each process over the run (2 cores; kafka_cpu_s the broker's in Sluice's run, psql_copy_kafka_broker_cpu_s in the kafka limit's); " +
			"topic_batches, records_per_batch: the record batches stored in Sluice's topic (commit markers included) and data records per batch, psql_copy_kafka_records_per_batch the same in the kafka limit's topic; " +
			"an untimed run of each variant before the timed ones warms the broker"}, nil
	}
	// An untimed run of each first: the broker's first heavy produce of
	// a kind (uncompressed, lz4) costs it seconds of JIT compilation, and
	// the limit that runs later would find it done.
	for _, v := range []variant{{"snapwarm", "", "warm-up snapshot"}, {"snapwarmlz4", "SLUICE_KAFKA_COMPRESSION=lz4", "warm-up snapshot (lz4)"}} {
		if _, err := runSluice(v); err != nil {
			return nil, err
		}
	}
	// Then the broker's own warm-up, as the drain has it (at once done
	// when the drain ran before): those two runs leave its batch paths
	// still compiling, which cost a timed run up to 0.6 broker CPU s.
	if err := e.warmBroker(ctx); err != nil {
		return nil, err
	}
	var (
		plains     []result
		kafkaRates []float64
		kl         limitRun
		klBatches  batchCount
		shapes     []recordShape
		parts      int32
	)
	// The limit that also pays for Kafka: COPY's rows into the broker as
	// records of the size Sluice wrote (sampled from its first run).
	runKafka := func(round int) error {
		if shapes == nil {
			var err error
			if shapes, parts, err = e.sampleShapes(ctx, "snap_1.public.items", 100_000); err != nil {
				return err
			}
		}
		topic := fmt.Sprintf("bench.limit.pg_snapshot_%d", round)
		r, err := e.kafkaLimit(ctx, topic, parts, shapes, everyLine, "psql", copyArgs...)
		if err != nil {
			return err
		}
		b, err := e.countBatches(ctx, topic)
		if err != nil {
			return err
		}
		rate := float64(*flagSnapRows) / r.took.Seconds()
		kafkaRates = append(kafkaRates, rate)
		kl, klBatches = r, b
		logf("psql COPY into Kafka: %.0f rows/s; %d batches in the topic, %.0f records each", rate, b.batches, b.perBatch())
		return nil
	}
	for round := 1; round <= max(1, *flagSnapRuns); round++ {
		sluice := func() error {
			r, err := runSluice(variant{fmt.Sprintf("snap_%d", round), "", "postgres snapshot"})
			plains = append(plains, r)
			return err
		}
		steps := []func() error{runCopy, sluice, func() error { return runKafka(round) }}
		if round%2 == 0 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
	}
	plain := meanSnapshot(plains)
	// Once more with lz4, to show what compression costs.
	lz4, err := runSluice(variant{"snaplz4", "SLUICE_KAFKA_COMPRESSION=lz4", "postgres snapshot (kafka.compression lz4)"})
	if err != nil {
		return nil, err
	}
	// Once more read as one range, to show what key ranges read in
	// parallel [S10] bring on these cores.
	one, err := runSluice(variant{"snapone", "SLUICE_SNAPSHOT_PARALLELISM=1", "postgres snapshot (snapshot.parallelism 1: one range)"})
	if err != nil {
		return nil, err
	}
	// And with chunks five times the default: fewer chunks, so fewer
	// hand-overs and commits, for a re-read bound five times as large.
	big, err := runSluice(variant{"snapbig", "SLUICE_SNAPSHOT_CHUNK_SIZE=50000", "postgres snapshot (snapshot.chunk_size 50,000)"})
	if err != nil {
		return nil, err
	}
	if err := runCopy(); err != nil {
		return nil, err
	}
	keyB, valB, _ := meanShape(shapes)
	copyRate, copyCPU, kafkaRate := mean(copyRates), mean(copyCPUs), mean(kafkaRates)
	// Each round's runs also make pairs (they ran next to each other):
	// the medians of their ratios are a second estimate, less moved by
	// one slow run than the ratio of the means.
	var roundRatios, roundKafkaRatios []float64
	for i, r := range plains {
		rate := r.Figures["sluice_rows_per_s"]
		roundRatios = append(roundRatios, rate/copyRates[i])
		roundKafkaRatios = append(roundKafkaRatios, rate/kafkaRates[i])
		plain.Figures[fmt.Sprintf("ratio_to_limit_round_%d", i+1)] = rate / copyRates[i]
		plain.Figures[fmt.Sprintf("ratio_to_kafka_limit_round_%d", i+1)] = rate / kafkaRates[i]
	}
	plain.Figures["ratio_to_limit_median_of_rounds"] = median(roundRatios)
	plain.Figures["ratio_to_kafka_limit_median_of_rounds"] = median(roundKafkaRatios)
	plain.Figures["psql_copy_rows_per_s_min"], plain.Figures["psql_copy_rows_per_s_max"] = slices.Min(copyRates), slices.Max(copyRates)
	plain.Notes += fmt.Sprintf("; %d rounds of COPY, Sluice and COPY into Kafka (every other one reversed), then lz4, one range and 50,000-row chunks once each, and COPY once more: "+
		"rates are the means of the runs, ratio_to_limit the ratio of the means, ratio_to_limit_round_i a round's runs' ratio", len(plains))
	logf("postgres snapshot: %.2f of COPY from the means, %.2f the median of %d rounds; %.2f of COPY into Kafka, %.2f the median",
		plain.Figures["sluice_rows_per_s"]/copyRate, median(roundRatios), len(plains), plain.Figures["sluice_rows_per_s"]/kafkaRate, median(roundKafkaRatios))
	out := []result{plain, lz4, one, big}
	for i := range out {
		f := out[i].Figures
		f["psql_copy_rows_per_s"], f["ratio_to_limit"], f["psql_copy_cpu_s"] = copyRate, f["sluice_rows_per_s"]/copyRate, copyCPU
		f["psql_copy_kafka_rows_per_s"], f["ratio_to_kafka_limit"] = kafkaRate, f["sluice_rows_per_s"]/kafkaRate
		f["psql_copy_kafka_broker_cpu_s"] = kl.kafkaCPU
		f["psql_copy_kafka_records_per_batch"] = klBatches.perBatch()
		f["record_key_bytes"], f["record_value_bytes"] = keyB, valB
		out[i].Limits = map[string]string{"psql_copy_rows_per_s": copyCmd, "psql_copy_kafka_rows_per_s": kl.cmdline}
	}
	return out, nil
}

// meanSnapshot is one result of several runs of the same snapshot: the
// mean of each figure, the peak RSS the largest, and the range of rates.
func meanSnapshot(rs []result) result {
	out := result{Scenario: rs[0].Scenario, Notes: rs[0].Notes, Figures: map[string]float64{}}
	var rates []float64
	for _, r := range rs {
		rates = append(rates, r.Figures["sluice_rows_per_s"])
		for k, v := range r.Figures {
			if k == "peak_rss_mib" {
				out.Figures[k] = max(out.Figures[k], v)
				continue
			}
			out.Figures[k] += v / float64(len(rs))
		}
	}
	out.Figures["runs"] = float64(len(rs))
	out.Figures["sluice_rows_per_s_min"], out.Figures["sluice_rows_per_s_max"] = slices.Min(rates), slices.Max(rates)
	return out
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x / float64(len(xs))
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
