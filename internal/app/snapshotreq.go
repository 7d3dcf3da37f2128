package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicecdc/sluice/capture"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/snapshot"
)

// RequestSnapshot records in the source database a request that the
// instance of cfg snapshot tables while it streams (`sluice snapshot`).
// The request is durable once this returns: the instance takes it when
// its stream reaches it, at once while it runs, after its next start
// otherwise. Each table must be one the instance captures. With wait it
// then prints the progress the instance checkpoints, and returns when
// every table of the request is done (or ctx ends).
func RequestSnapshot(ctx context.Context, cfg *config.Config, tables []string, wait bool, out io.Writer) error {
	if cfg.Source.Type != config.SourcePostgres {
		return &config.Error{Key: "source.type", Msg: fmt.Sprintf("%q: sluice snapshot supports Postgres sources in this release; "+
			"a MySQL/MariaDB table newly added to source.tables is snapshotted at the next start", cfg.Source.Type)}
	}
	if len(tables) == 0 {
		return errors.New("name at least one table (<schema>.<table>)")
	}
	tls, err := TLSConfig(cfg.Source.TLS, "source")
	if err != nil {
		return &config.Error{Key: "source.tls", Msg: err.Error()}
	}
	pgcfg, err := pgcapture.ParseDSN(cfg.Source.DSN, pgcapture.WithTLS(tls))
	if err != nil {
		return &config.Error{Key: "source.dsn", Msg: err.Error()}
	}
	if err := capturedTables(ctx, cfg, pgcfg, tables); err != nil {
		return err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	req := snapshot.Request{Name: cfg.Name, ID: hex.EncodeToString(b[:]), Tables: tables}
	payload, err := json.Marshal(req)
	if err != nil {
		return err
	}
	lsn, err := pgcapture.WriteSignal(ctx, pgcfg, payload)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "snapshot of %s requested (request %s, recorded at LSN %s); instance %s takes it while streaming\n",
		strings.Join(tables, ", "), req.ID, lsn, cfg.Name)
	if !wait {
		return nil
	}
	return waitForRequest(ctx, cfg, req.ID, out)
}

// capturedTables checks that every table exists and is captured by cfg.
func capturedTables(ctx context.Context, cfg *config.Config, pgcfg *pgconn.Config, tables []string) error {
	conn, err := pgcapture.Connect(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	all, err := pgcapture.CheckTables(ctx, conn)
	if err != nil {
		return err
	}
	f := &capture.Filter{Include: cfg.Source.Tables, Exclude: cfg.Source.ExcludeTables}
	for _, t := range tables {
		id, err := snapshot.ParseTableID(t)
		if err != nil {
			return err
		}
		exists := false
		for _, tc := range all {
			if tc.ID == id {
				exists = true
			}
		}
		switch {
		case !exists:
			return &capture.SetupError{What: "sluice snapshot " + t, Err: errors.New("no such table (names are case-sensitive)"),
				Fix: "name an existing table as <schema>.<table>"}
		case !f.Match(id):
			return &capture.SetupError{What: "sluice snapshot " + t, Err: fmt.Errorf("instance %s does not capture it", cfg.Name),
				Fix: "add it to source.tables (a table newly included is snapshotted at the next start without a request)"}
		}
	}
	return nil
}

// waitForRequest prints the checkpointed progress of a request's tables
// until none is left.
func waitForRequest(ctx context.Context, cfg *config.Config, id string, out io.Writer) error {
	seen := false
	lastNote := time.Time{}
	for {
		cp, err := statusCheckpoint(ctx, cfg)
		if err != nil {
			return fmt.Errorf("reading the checkpoint: %w", err)
		}
		var left []string
		finished := false
		if cp != nil && cp.Snapshot != nil {
			for _, t := range cp.Snapshot.Tables {
				if t.Request == id {
					left = append(left, t.Namespace+"."+t.Name+" "+SnapshotStatus{Rows: t.Rows, Estimate: t.Total}.String())
				}
			}
			finished = slices.Contains(cp.Snapshot.Finished, id)
		}
		switch {
		case len(left) > 0:
			seen = true
			fmt.Fprintf(out, "%s: %s\n", time.Now().Format(time.TimeOnly), strings.Join(left, "; "))
		case seen || finished:
			fmt.Fprintf(out, "snapshot request %s done\n", id)
			return nil
		case time.Since(lastNote) > 10*time.Second:
			fmt.Fprintf(out, "waiting for instance %s to take request %s (it takes it when its stream reaches it: is it running?)\n", cfg.Name, id)
			lastNote = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
