package main

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// benchWatermarks measures what a snapshot costs the stream, watermarks
// included. One Sluice instance streams a table while a write load of
// updates at random keys of that table runs as fast as Postgres takes it:
//
//	A. the load alone;
//	B. the same load while an on-demand snapshot (`sluice snapshot`) of
//	   the same table runs: chunks read between watermarks, the load's
//	   updates falling into the chunks being read, so rows the stream
//	   changed are dropped from the chunks;
//	C. the snapshot alone;
//	A again: on a shared machine the load drifts, and A's figure is the
//	mean of the runs before and after.
//
// The stream's figure is the load's changes per second from its first
// write to Sluice's checkpoint past its last; the snapshot's is rows per
// second from the request to its last chunk's commit. B against A is what
// a running snapshot costs the stream on these cores: the watermarks and
// the dropped rows, and also the snapshot's own reading and producing,
// which share the 2 cores; so it bounds the watermarks' own cost from
// above. B against C is what the load costs the snapshot.
func benchWatermarks(ctx context.Context, e *benchEnv) ([]result, error) {
	dsn, db, err := e.db(ctx, "wm")
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	rows := *flagSnapRows
	load := rows / 2
	if _, err := db.Exec(ctx, tableDDL("items")); err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, `CREATE PROCEDURE load_items(n bigint, nrows bigint) LANGUAGE plpgsql AS $$
DECLARE done bigint := 0; sz int; r bigint;
BEGIN
  WHILE done < n LOOP
    sz := 1 + floor(random() * 100)::int;
    r := 1 + floor(random() * (nrows - sz))::bigint;
    UPDATE items SET qty = qty + 1, status = 'paid', updated = now() WHERE id BETWEEN r AND r + sz - 1;
    done := done + sz;
    COMMIT;
  END LOOP;
END $$`); err != nil {
		return nil, err
	}
	logf("watermarks: loading %d rows", rows)
	if _, err := db.Exec(ctx, fmt.Sprintf(`INSERT INTO items (id, account, amount, qty, status, updated, sku, flag, note)
	  SELECT g, g %% 1000, (g %% 100000) / 100.0, g %% 50, 'pending', now(), 'SKU-' || (g %% 99999), g %% 2 = 0, %s
	  FROM generate_series(1, %d) g`, noteExpr(), rows)); err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, "VACUUM ANALYZE items"); err != nil {
		return nil, err
	}
	cfg, err := e.config("wm", dsn, "public.items", "snapshot: {mode: never}\n")
	if err != nil {
		return nil, err
	}
	p, err := e.start(cfg)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	start, err := walLSN(ctx, db)
	if err != nil {
		return nil, err
	}
	if _, err := p.waitCheckpoint(start, 2*time.Minute); err != nil {
		return nil, err
	}
	snapCmd := []string{e.bin, "snapshot", "-c", cfg, "public.items"}
	requestSnapshot := func() (int, error) {
		n := p.requestsDone()
		if out, err := exec.Command(snapCmd[0], snapCmd[1:]...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("sluice snapshot: %w: %s", err, out)
		}
		return n, nil
	}
	// runLoad writes the load and returns the stream's rate for it and
	// the rate Postgres took the writes at.
	runLoad := func() (stream, write float64, err error) {
		t0 := time.Now()
		if _, err := db.Exec(ctx, fmt.Sprintf("CALL load_items(%d, %d)", load, rows)); err != nil {
			return 0, 0, err
		}
		wrote := time.Since(t0)
		end, err := walLSN(ctx, db)
		if err != nil {
			return 0, 0, err
		}
		at, err := p.waitCheckpoint(end, 30*time.Minute)
		if err != nil {
			return 0, 0, err
		}
		return float64(load) / at.Sub(t0).Seconds(), float64(load) / wrote.Seconds(), nil
	}

	logf("watermarks: A. %d updates, no snapshot", load)
	aloneRate, aloneWrite, err := runLoad()
	if err != nil {
		return nil, err
	}
	aloneRate, aloneWrite = aloneRate/2, aloneWrite/2
	logf("watermarks: B. %d updates while a snapshot of %d rows runs", load, rows)
	t0 := time.Now()
	before, err := requestSnapshot()
	if err != nil {
		return nil, err
	}
	withRate, withWrite, err := runLoad()
	if err != nil {
		return nil, err
	}
	snapDone, err := p.waitRequestDone(before, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	snapUnderLoad := float64(rows) / snapDone.Sub(t0).Seconds()
	logf("watermarks: C. the snapshot alone")
	t0 = time.Now()
	if before, err = requestSnapshot(); err != nil {
		return nil, err
	}
	if snapDone, err = p.waitRequestDone(before, 30*time.Minute); err != nil {
		return nil, err
	}
	snapAlone := float64(rows) / snapDone.Sub(t0).Seconds()
	logf("watermarks: A again. %d updates, no snapshot", load)
	r, w, err := runLoad()
	if err != nil {
		return nil, err
	}
	aloneRate, aloneWrite = aloneRate+r/2, aloneWrite+w/2
	rss := p.peakRSS()
	logf("watermarks: stream %.0f changes/s alone, %.0f during a snapshot; snapshot %.0f rows/s alone, %.0f under the load",
		aloneRate, withRate, snapAlone, snapUnderLoad)
	return []result{{Scenario: "snapshot while streaming (postgres)", Figures: map[string]float64{
		"rows": float64(rows), "load_changes": float64(load),
		"stream_changes_per_s_alone":         aloneRate,
		"stream_changes_per_s_with_snapshot": withRate,
		"stream_ratio_with_snapshot":         withRate / aloneRate,
		"load_written_per_s_alone":           aloneWrite,
		"load_written_per_s_with_snapshot":   withWrite,
		"snapshot_rows_per_s_alone":          snapAlone,
		"snapshot_rows_per_s_under_load":     snapUnderLoad,
		"snapshot_ratio_under_load":          snapUnderLoad / snapAlone,
		"peak_rss_mib":                       rss,
	}, Limits: map[string]string{"snapshot": shellQuote(snapCmd)},
		Notes: "one instance streams the table; load: updates of 1-100 rows a transaction at random keys of the same table, as fast as Postgres takes them; " +
			"stream: the load's changes/s from its first write to Sluice's checkpoint past its last, alone (A: mean of a run before B and one after C) and while an on-demand snapshot of the table runs (B); " +
			"the stream ratio B/A is what a running snapshot costs the stream on these cores (watermarks, rows dropped from chunks, and the snapshot's own reading and producing): " +
			"an upper bound for the watermarks' cost; snapshot: rows/s from the request to its last chunk's commit, under the load (B) and alone (C, run after B); " +
			"peak RSS over A, B and C"}}, nil
}
