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

	"github.com/sluicecdc/sluice/capture"
	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/schema"
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
	if len(tables) == 0 {
		return errors.New("name at least one table (<schema-or-database>.<table>)")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	req := snapshot.Request{Name: cfg.Name, ID: hex.EncodeToString(b[:]), Tables: tables}
	payload, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var where string
	switch cfg.Source.Type {
	case config.SourcePostgres:
		if where, err = requestPostgres(ctx, cfg, tables, payload); err != nil {
			return err
		}
	case config.SourceMySQL:
		if where, err = requestMySQL(ctx, cfg, tables, req.ID, payload); err != nil {
			return err
		}
	default:
		return &config.Error{Key: "source.type", Msg: fmt.Sprintf("%q: not supported by this build", cfg.Source.Type)}
	}
	fmt.Fprintf(out, "snapshot of %s requested (request %s, recorded %s); instance %s takes it while streaming\n",
		strings.Join(tables, ", "), req.ID, where, cfg.Name)
	if !wait {
		return nil
	}
	return waitForRequest(ctx, cfg, req.ID, out)
}

// requestPostgres writes the request as a logical decoding message and
// says where it was recorded.
func requestPostgres(ctx context.Context, cfg *config.Config, tables []string, payload []byte) (string, error) {
	tls, err := TLSConfig(cfg.Source.TLS, "source")
	if err != nil {
		return "", &config.Error{Key: "source.tls", Msg: err.Error()}
	}
	pgcfg, err := pgcapture.ParseDSN(cfg.Source.DSN, pgcapture.WithTLS(tls))
	if err != nil {
		return "", &config.Error{Key: "source.dsn", Msg: err.Error()}
	}
	conn, err := pgcapture.Connect(ctx, pgcfg)
	if err != nil {
		return "", err
	}
	all, err := pgcapture.CheckTables(ctx, conn)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return "", err
	}
	ids := make([]schema.TableID, len(all))
	for i, tc := range all {
		ids[i] = tc.ID
	}
	if err := capturedTables(cfg, ids, tables); err != nil {
		return "", err
	}
	lsn, err := pgcapture.WriteSignal(ctx, pgcfg, payload)
	if err != nil {
		return "", err
	}
	return "at LSN " + lsn, nil
}

// requestMySQL writes the request as a row of the signal table
// (source.mysql.signal_table) and says where it was recorded.
func requestMySQL(ctx context.Context, cfg *config.Config, tables []string, id string, payload []byte) (string, error) {
	conn, err := mycapture.ParseDSN(cfg.Source.DSN)
	if err != nil {
		return "", &config.Error{Key: "source.dsn", Msg: err.Error()}
	}
	if conn.TLS, err = TLSConfig(cfg.Source.TLS, "source"); err != nil {
		return "", &config.Error{Key: "source.tls", Msg: err.Error()}
	}
	if conn.TLS != nil && conn.TLS.ServerName == "" {
		conn.TLS.ServerName = conn.Host
	}
	signal, err := mycapture.ParseSignalTable(cfg.Source.MySQL.SignalTable)
	if err != nil {
		return "", &config.Error{Key: "source.mysql.signal_table", Msg: err.Error()}
	}
	db, err := mycapture.OpenDB(ctx, conn)
	if err != nil {
		return "", err
	}
	all, _, err := mycapture.ListTables(ctx, db, &capture.Filter{})
	db.Close()
	if err != nil {
		return "", err
	}
	all = slices.DeleteFunc(all, func(id schema.TableID) bool { return id == signal })
	if err := capturedTables(cfg, all, tables); err != nil {
		return "", err
	}
	if err := mycapture.WriteSignal(ctx, conn, signal, "request/"+id, payload); err != nil {
		return "", err
	}
	return "in the binlog through " + signal.String(), nil
}

// capturedTables checks that every table is among all and captured by
// cfg.
func capturedTables(cfg *config.Config, all []schema.TableID, tables []string) error {
	f := &capture.Filter{Include: cfg.Source.Tables, Exclude: cfg.Source.ExcludeTables}
	for _, t := range tables {
		id, err := snapshot.ParseTableID(t)
		if err != nil {
			return err
		}
		exists := slices.Contains(all, id)
		switch {
		case !exists:
			return &capture.SetupError{What: "sluice snapshot " + t, Err: errors.New("no such table (names are case-sensitive)"),
				Fix: "name an existing table as <schema-or-database>.<table>"}
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
