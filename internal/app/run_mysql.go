package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sluicecdc/sluice/capture"

	mycapture "github.com/sluicecdc/sluice/capture/mysql"
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
		Logger: log,
	}, cp, cfg.Snapshot.Mode)
	if err != nil {
		return capture.FromSource(err)
	}
	defer src.Close()
	started()
	po.ServerID = plan.Server.Identity()
	p := pipeline.New(po, prod, env.Registry, cp)
	p.SetSource(src)
	log.Info("mysql source", "flavor", plan.Server.Flavor, "version", plan.Server.Version, "server", plan.Server.Identity(), "tables", len(plan.Tables))

	if plan.Snapshot {
		var res *snapshot.MySQLResult
		stopped, err := takeSnapshot(ctx, cfg, st, stopper, log, func(ctx context.Context, o snapshot.Options) (err error) {
			res, err = snapshot.MySQL(ctx, src, plan.Tables, p, o)
			return err
		})
		if stopped || err != nil {
			return err
		}
		if err := p.SnapshotDone(ctx, res.Position); err != nil {
			return err
		}
		log.Info("snapshot complete and checkpointed", "position", res.Position.String(), "connections", res.Parallel)
		if cfg.Snapshot.Mode == mycapture.SnapshotInitialOnly {
			return nil
		}
		if err := src.SetStart(res.Position); err != nil {
			return err
		}
		src.Seed(res.Tables)
	} else if cp == nil {
		// snapshot.mode never: the start position is the first checkpoint.
		if err := p.SnapshotDone(ctx, plan.Start); err != nil {
			return err
		}
	}
	return stream(ctx, src, p, nil, false, st, stopper, log)
}
