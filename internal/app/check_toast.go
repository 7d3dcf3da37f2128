package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	pgcapture "github.com/sluicecdc/sluice/capture/postgres"
	"github.com/sluicecdc/sluice/schema"
)

// checkToast fails every captured table that `sluice run` refuses because
// an unchanged TOASTed value of one of its columns would arrive without a
// value and with no placeholder to stand in (capture/postgres/toast.go).
func checkToast(ctx context.Context, r *CheckReport, conn *pgx.Conn, tables []pgcapture.TableCheck, excludeColumns []string) {
	ids := make([]schema.TableID, len(tables))
	for i, t := range tables {
		ids[i] = t.ID
	}
	risks, err := pgcapture.ToastRisks(ctx, conn, ids, excludeMap(excludeColumns))
	if err != nil {
		r.Fail("postgres unchanged TOASTed values", err.Error(), "")
		return
	}
	for _, risk := range risks {
		r.Fail("postgres replica identity of "+risk.Table.String(), risk.Describe(), risk.Fix())
	}
	if len(risks) == 0 {
		r.Pass("postgres unchanged TOASTed values", fmt.Sprintf("all %d captured table(s) are sent with a value or Debezium's placeholder", len(tables)))
	}
}
