package main

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicsNow lists the broker's topics.
func (e *benchEnv) topicsNow(ctx context.Context) (map[string]bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return listTopics(ctx, kadm.NewClient(cl))
}

func listTopics(ctx context.Context, adm *kadm.Client) (map[string]bool, error) {
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, t := range td.Names() {
		out[t] = true
	}
	return out, nil
}

// dropTopics deletes the topics a scenario wrote (every topic but the
// broker's and the registry's, those there when the bench started, and
// the broker warm-up's): with the servers' data on a tmpfs, the topics of
// a whole bench (more than 15 GB) would not fit in memory, and those of
// one scenario do.
func (e *benchEnv) dropTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	now, err := listTopics(ctx, adm)
	if err != nil {
		return err
	}
	var drop []string
	for t := range now {
		if !e.keepTopics[t] && !strings.HasPrefix(t, "__") && !strings.HasPrefix(t, "bench.warm") {
			drop = append(drop, t)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	rs, err := adm.DeleteTopics(ctx, drop...)
	if err != nil {
		return err
	}
	return rs.Error()
}

// dropDatabases drops the databases a scenario made (e.db), with their
// replication slots: their dead rows would keep autovacuum busy, and their
// WAL and tables in memory, through the scenarios after.
func (e *benchEnv) dropDatabases(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, e.pg.SuperuserDSN("postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active_pid IS NOT NULL`); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots`); err != nil {
		return err
	}
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	return nil
}
