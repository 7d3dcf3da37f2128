package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/sluicecdc/sluice/capture"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/internal/config"
	"github.com/sluicecdc/sluice/internal/pipeline"
	"github.com/sluicecdc/sluice/schema"
	"github.com/sluicecdc/sluice/snapshot"
)

// runMySQL runs a MySQL/MariaDB source: a bad DSN is a configuration error
// (exit 2); after the first successful start, transient failures restart
// the pipeline from the last checkpoint (supervise).
func runMySQL(ctx context.Context, cfg *config.Config, env *Env, log *slog.Logger, st *State, stopper *Stopper) error {
	conn, err := mycapture.ParseDSN(cfg.Source.DSN)
	if err != nil {
		msg := err.Error()
		var se *mycapture.SetupError
		if errors.As(err, &se) {
			msg = se.Err.Error() + "; fix: " + se.Fix
		}
		return &config.Error{Key: "source.dsn", Msg: msg}
	}
	if conn.TLS, err = TLSConfig(cfg.Source.TLS, "source"); err != nil {
		return &config.Error{Key: "source.tls", Msg: err.Error()}
	}
	if conn.TLS != nil && conn.TLS.ServerName == "" {
		conn.TLS.ServerName = conn.Host
	}
	return supervise(ctx, log, st, stopper, func(started func()) error {
		return explain(cfg, runMySQLOnce(ctx, cfg, conn, env, log, st, stopper, started))
	})
}

func runMySQLOnce(ctx context.Context, cfg *config.Config, conn *mycapture.ConnConfig, env *Env, log *slog.Logger, st *State, stopper *Stopper, started func()) error {
	prod, po, cp, err := startPipeline(ctx, cfg, env, log, st, schema.MySQL, true)
	if err != nil {
		return err
	}
	defer prod.Close()
	src, plan, err := mycapture.Open(ctx, mycapture.Config{
		Conn: conn, ServerID: cfg.Source.MySQL.ServerID, HeartbeatInterval: cfg.Source.MySQL.HeartbeatInterval,
		Filter: mycapture.Filter{Include: cfg.Source.Tables, Exclude: cfg.Source.ExcludeTables},
		Logger: log, SignalTable: cfg.Source.MySQL.SignalTable,
	}, cp, cfg.Snapshot.Mode)
	if err != nil {
		return capture.FromSource(err)
	}
	defer src.Close()
	started()
	cp = plan.Checkpoint // after a failover, the position on this server
	po.ServerID = plan.Server.Identity()
	if plan.Server.Flavor == mycapture.FlavorMariaDB {
		po.Connector = "mariadb" // as Debezium's MariaDB connector names itself
	}
	ids := plan.Tables
	for _, id := range ids {
		po.Tables = append(po.Tables, id.String())
	}
	log.Info("mysql source", "flavor", plan.Server.Flavor, "version", plan.Server.Version, "server", plan.Server.Identity(), "tables", len(plan.Tables))

	// The initial snapshot's start: a binlog position and, as of it, each
	// table's last key.
	var start checkpoint.Position
	var bounds map[schema.TableID][]string
	if plan.Snapshot {
		if start, bounds, err = src.SnapshotStart(ctx, ids); err != nil {
			return capture.FromSource(err)
		}
		if err := src.SetStart(start); err != nil {
			return err
		}
	}
	p := pipeline.New(po, prod, env.Registry, cp)
	p.SetSource(src)

	// Snapshots are read in chunks between watermarks while streaming
	// (snapshot.Engine); a checkpoint carries their progress.
	var state *checkpoint.SnapshotState
	if cp != nil && !plan.Snapshot {
		state = cp.Snapshot
	}
	sn := src.Snapshotter()
	if err := checkTransforms(ctx, po, sn, ids, log); err != nil {
		return err
	}
	eng := snapshot.NewEngine(sn, &versionsOnce{Pipeline: p, last: map[schema.TableID]*schema.Table{}}, snapshot.EngineOptions{
		ChunkSize: cfg.Snapshot.ChunkSize, Parallelism: cfg.Snapshot.Parallelism, ProgressInterval: cfg.Snapshot.ProgressInterval,
		Logger: log, Progress: st.Snapshot, Name: cfg.Name,
		Captured: func(id schema.TableID) bool { return slices.Contains(ids, id) },
	}, state)
	switch {
	case plan.Snapshot:
		eng.Add(ids, bounds, true, "")
		// The snapshot's start, with every table's snapshot to take, is
		// the first checkpoint.
		if err := p.SnapshotDone(ctx, start); err != nil {
			return err
		}
		log.Info("snapshot started", "tables", len(ids), "position", start.String(), "chunk_size", cfg.Snapshot.ChunkSize)
	case cp == nil:
		// snapshot.mode never: the start position is the first checkpoint.
		if err := p.SnapshotDone(ctx, plan.Start); err != nil {
			return err
		}
	case len(plan.Added) > 0:
		log.Info("tables newly captured: their snapshot is taken while streaming", "tables", fmt.Sprint(plan.Added))
		eng.Add(plan.Added, nil, false, "")
	}
	if eng.Pending() {
		log.Info("snapshots under way", "tables", len(eng.State()))
	}
	return stream(ctx, src, p, eng, cfg.Snapshot.Mode == mycapture.SnapshotInitialOnly, st, stopper, log)
}

// versionsOnce records a table version in the schema history only when it
// differs from the table's version recorded last. The MySQL source
// describes a table anew from its first TABLE_MAP event, after a snapshot
// chunk of the table may have recorded the same version as the snapshot
// read it from information_schema; the second record would say nothing
// new. Rows carry their own version, so none depends on the record left
// out.
type versionsOnce struct {
	*pipeline.Pipeline
	last map[schema.TableID]*schema.Table
}

func (v *versionsOnce) SchemaChange(ctx context.Context, sc *capture.SchemaChange) error {
	if t := sc.Table; t != nil && sc.DDL == "" {
		if prev := v.last[t.ID]; prev != nil && prev.Equal(t) {
			return nil
		}
		v.last[t.ID] = t
	}
	return v.Pipeline.SchemaChange(ctx, sc)
}
