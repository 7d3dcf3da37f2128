package testenv_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestMySQL starts the MySQL installed by make deps and checks its binlog
// and GTID settings, and that two servers have their own server_uuid.
func TestMySQL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, err := testenv.StartMySQL(ctx, testenv.MySQLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, a)
	b, err := testenv.StartMySQL(ctx, testenv.MySQLOptions{ServerID: 2})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, b)
	uuid := func(m *testenv.MySQL) string {
		db, err := sql.Open("mysql", m.GoSQLDSN("root", testenv.MySQLRootPassword, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var logBin, format, image, meta, gtid, enforce, id, version string
		err = db.QueryRowContext(ctx, "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@gtid_mode, @@enforce_gtid_consistency, @@server_uuid, @@version").
			Scan(&logBin, &format, &image, &meta, &gtid, &enforce, &id, &version)
		if err != nil {
			t.Fatalf("MySQL %s: %v", m.Version, err)
		}
		if logBin != "1" || format != "ROW" || image != "FULL" || meta != "FULL" || gtid != "ON" || enforce != "ON" {
			t.Errorf("MySQL %s: log_bin=%s format=%s image=%s metadata=%s gtid_mode=%s enforce=%s", version, logBin, format, image, meta, gtid, enforce)
		}
		if !strings.HasPrefix(version, m.Version) {
			t.Errorf("@@version %s, install says %s", version, m.Version)
		}
		return id
	}
	if ua, ub := uuid(a), uuid(b); ua == ub {
		t.Errorf("both servers have server_uuid %s", ua)
	}
}
