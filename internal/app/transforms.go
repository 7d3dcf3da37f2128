package app

import (
	"context"
	"log/slog"

	"github.com/sluicecdc/sluice/internal/pipeline"
	"github.com/sluicecdc/sluice/schema"
)

// describer reads a table's current definition (a source's snapshotter).
type describer interface {
	Describe(ctx context.Context, id schema.TableID) (*schema.Table, error)
}

// checkTransforms checks the configured transforms against the current
// columns of the captured tables they apply to, so that a mistake (a
// missing outbox column, a masked key column) stops Sluice at start with
// a *config.Error (exit status 2), not at the table's first event. The
// pipeline checks every table version again when it first meets it; a
// table that cannot be described here is left to that check.
func checkTransforms(ctx context.Context, po pipeline.Options, d describer, ids []schema.TableID, log *slog.Logger) error {
	if po.Transforms == nil {
		return nil
	}
	for _, id := range ids {
		if !po.Transforms.Applies(id) {
			continue
		}
		t, err := d.Describe(ctx, id)
		if err != nil {
			log.Debug("transforms checked at the table's first event: it cannot be described now", "table", id.String(), "err", err)
			continue
		}
		if _, err := po.Transforms.For(t, po.ExcludeColumns[id.String()]); err != nil {
			return err
		}
	}
	return nil
}
