package testenv_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestMySQL starts each MySQL installed by make deps (9.x, 8.0) and checks
// its binlog and GTID settings, and that two servers have their own
// server_uuid.
func TestMySQL(t *testing.T) {
	for _, series := range []string{"9", "8.0"} {
		t.Run(series, func(t *testing.T) { testMySQL(t, series) })
	}
}

func testMySQL(t *testing.T, series string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, err := testenv.StartMySQL(ctx, testenv.MySQLOptions{Series: series})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, a)
	b, err := testenv.StartMySQL(ctx, testenv.MySQLOptions{Series: series, ServerID: 2})
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

// TestMariaDBSeries starts the MariaDB 11.8 installed by make deps
// (bootstrapped from its own scripts) and checks its version, binlog
// settings and root's password over TCP.
func TestMariaDBSeries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want, err := testenv.MariaDBVersion("11.8")
	if err != nil {
		t.Fatal(err)
	}
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{Series: "11.8"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, m)
	db, err := sql.Open("mysql", m.GoSQLDSN("root", testenv.MariaDBRootPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version, logBin, format, image, meta string
	err = db.QueryRowContext(ctx, "SELECT @@version, @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata").
		Scan(&version, &logBin, &format, &image, &meta)
	if err != nil {
		t.Fatalf("MariaDB %s: %v", want, err)
	}
	if !strings.HasPrefix(version, want+"-MariaDB") {
		t.Errorf("@@version %s, install says %s", version, want)
	}
	if logBin != "1" || format != "ROW" || image != "FULL" || meta != "FULL" {
		t.Errorf("MariaDB %s: log_bin=%s format=%s image=%s metadata=%s", version, logBin, format, image, meta)
	}
}
