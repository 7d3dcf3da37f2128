package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/capture"
	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/harness"
)

// TestPostgresOpenReadsCheckpointAgain: a start reads the checkpoint before
// it can lock the slot; another instance of the same name may commit a
// newer checkpoint and stop in between. Open decides from the checkpoint
// read again once it holds the slot's lock. Deterministically: Open is
// given the checkpoint as it was before the other instance's last commit.
// Without the re-read it stops (the slot is ahead of that checkpoint);
// with it, it starts from the newer one, and the re-read happens with the
// lock held.
func TestPostgresOpenReadsCheckpointAgain(t *testing.T) {
	pg, k, r := sharedPostgres(t), sharedKafka(t), sharedRegistry(t)
	dsn, db := pgDB(t, pg)
	name := testName(t)
	ctx := context.Background()
	exec(t, db, "CREATE TABLE t (id bigint PRIMARY KEY, v text)")
	exec(t, db, "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 10) g")
	cfg := harness.WriteConfig(t, pgConfig(name, dsn, k, r, ""))
	p := harness.Start(t, nil, "run", "-c", cfg)
	p.WaitFor(ctx, "snapshots done", 90*time.Second)
	waitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)
	stale := storedCheckpoint(t, k.Brokers(), name)
	exec(t, db, "INSERT INTO t SELECT g, 'y' FROM generate_series(11, 20) g")
	waitCaughtUp(t, db, k.Brokers(), name, 60*time.Second)
	if code := p.Interrupt(60 * time.Second); code != 0 {
		t.Fatalf("graceful stop exit code %d", code)
	}
	fresh := storedCheckpoint(t, k.Brokers(), name)
	if fresh.Position.LSN <= stale.Position.LSN {
		t.Fatalf("the stop did not move the checkpoint: %v then %v", stale.Position, fresh.Position)
	}

	slot := "sluice_" + name
	open := func(reload func(context.Context) (*checkpoint.Checkpoint, error)) (*pgcapture.Plan, error) {
		src, plan, err := pgcapture.Open(ctx, pgcapture.Config{
			DSN: dsn, Slot: slot, Publication: "sluice_" + name,
			ReloadCheckpoint: reload,
		}, stale, pgcapture.SnapshotInitial)
		if src != nil {
			src.Close()
		}
		return plan, err
	}

	var se *capture.SetupError
	if _, err := open(nil); !errors.As(err, &se) {
		t.Fatalf("Open from the stale checkpoint without a re-read: %v, want the slot-ahead SetupError", err)
	}
	t.Logf("without the re-read: %v", se)

	lockHeld := false
	plan, err := open(func(ctx context.Context) (*checkpoint.Checkpoint, error) {
		other, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, err
		}
		defer other.Close(ctx)
		var got bool
		if err := other.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext('sluice'), hashtext($1))", slot).Scan(&got); err != nil {
			return nil, err
		}
		lockHeld = !got
		return storedCheckpoint(t, k.Brokers(), name), nil
	})
	if err != nil {
		t.Fatalf("Open with the re-read: %v", err)
	}
	if !lockHeld {
		t.Error("the checkpoint was read again without the slot's lock held")
	}
	if plan.Checkpoint.Position != fresh.Position || plan.StartLSN != fresh.Position.LSN {
		t.Errorf("plan from %v starting at %v, want the newer checkpoint %v", plan.Checkpoint.Position, plan.StartLSN, fresh.Position)
	}
}
