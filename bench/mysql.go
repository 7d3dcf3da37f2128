package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/integration/testenv"
)

func myTableDDL(name string) string {
	return fmt.Sprintf(`CREATE TABLE %s (
  id bigint PRIMARY KEY, account int NOT NULL, amount decimal(12,2), qty int, status varchar(20),
  created datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), updated datetime(6), sku varchar(20), flag boolean, note text)`, name)
}

func myNoteExpr(g string) string {
	if *flagWide {
		return fmt.Sprintf("repeat(md5(%s), 58)", g)
	}
	return fmt.Sprintf("concat(md5(%[1]s), md5(%[1]s + 1), md5(%[1]s + 2))", g)
}

// myGenProc commits n changes in transactions of 1 to 100 rows, as the
// Postgres workload does.
func myGenProc(table string) string {
	return fmt.Sprintf(`CREATE PROCEDURE gen_%[1]s(n bigint)
BEGIN
  DECLARE done bigint DEFAULT 0; DECLARE next_id bigint DEFAULT 1; DECLARE sz int; DECLARE i int;
  WHILE done < n DO
    SET sz = 1 + floor(rand() * 100);
    START TRANSACTION;
    SET i = 0;
    WHILE i < sz DO
      INSERT INTO %[1]s (id, account, amount, qty, status, updated, sku, flag, note)
        VALUES (next_id + i, (next_id + i) %% 1000, ((next_id + i) %% 100000) / 100.0, (next_id + i) %% 50, 'pending', now(6),
                concat('SKU-', (next_id + i) %% 99999), (next_id + i) %% 2 = 0, %[2]s);
      SET i = i + 1;
    END WHILE;
    SET done = done + sz; SET next_id = next_id + sz;
    IF next_id > 1000 THEN
      UPDATE %[1]s SET status = 'paid', qty = qty + 1, updated = now(6) WHERE id BETWEEN next_id - 1000 AND next_id - 1000 + sz DIV 5;
      SET done = done + ROW_COUNT();
      DELETE FROM %[1]s WHERE id BETWEEN next_id - 900 AND next_id - 900 + sz DIV 10;
      SET done = done + ROW_COUNT();
    END IF;
    COMMIT;
  END WHILE;
END`, table, myNoteExpr("next_id + i"))
}

func masterStatus(ctx context.Context, db *sql.DB) (myPos, error) {
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return myPos{}, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		return myPos{}, fmt.Errorf("SHOW MASTER STATUS: no row (binlog off?)")
	}
	if err := rows.Scan(ptrs...); err != nil {
		return myPos{}, err
	}
	pos, _ := strconv.ParseUint(fmt.Sprint(str(vals[1])), 10, 64)
	return myPos{file: str(vals[0]), pos: pos}, nil
}

func str(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

func (e *benchEnv) myConfig(name, dsn, table string, serverID int, extra string) (string, error) {
	y := fmt.Sprintf(`name: %s
log: {level: debug}
source:
  type: mysql
  dsn: %q
  tables: [%s]
  mysql: {server_id: %d, heartbeat_interval: 1s}
kafka:
  brokers: [%s]
schema_registry:
  url: %s
http:
  listen: ""
%s`, name, dsn, table, serverID, strings.Join(e.k.Brokers(), ","), e.reg.URL, extra)
	f, err := os.CreateTemp("", "sluice-bench-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(y)
	return f.Name(), err
}

// benchMariaDB: the backlog drain (against mariadb-binlog reading the same
// range from the server to /dev/null, as is and with the rows decoded, and
// into Kafka) and the snapshot (against the mariadb client's SELECT to
// /dev/null, and into Kafka).
func benchMariaDB(ctx context.Context, e *benchEnv) ([]result, error) {
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{ExtraArgs: []string{"--innodb-buffer-pool-size=512M", "--max-binlog-size=1G"}})
	if err != nil {
		return nil, err
	}
	defer m.Stop()
	db, err := sql.Open("mysql", m.GoSQLDSN("root", testenv.MariaDBRootPassword, "")+"?multiStatements=true")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, q := range []string{"CREATE DATABASE bench", "USE bench", myTableDDL("bench.orders"), myTableDDL("bench.items")} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "USE bench"); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, myGenProc("orders")); err != nil {
		return nil, err
	}
	dsn := m.RootDSN("")
	var out []result

	// Drain: set the start position, write the backlog, then read it.
	cfg, err := e.myConfig("mydrain", dsn, "bench.orders", 54101, "snapshot: {mode: never}\n")
	if err != nil {
		return nil, err
	}
	start, err := masterStatus(ctx, db)
	if err != nil {
		return nil, err
	}
	p, err := e.start(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := p.waitMyCheckpoint(start, 2*time.Minute); err != nil {
		return nil, err
	}
	p.stop()
	start, _ = masterStatus(ctx, db)
	logf("mariadb: writing %d changes", *flagChanges)
	t0 := time.Now()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CALL gen_orders(%d)", *flagChanges)); err != nil {
		return nil, err
	}
	end, err := masterStatus(ctx, db)
	if err != nil {
		return nil, err
	}
	var changes int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM bench.orders").Scan(&changes); err != nil {
		return nil, err
	}
	logf("mariadb: backlog written in %s, %s:%d .. %s:%d", time.Since(t0).Round(time.Millisecond), start.file, start.pos, end.file, end.pos)
	// The procedure stops once it has made at least n changes; the rows
	// left in the table are not the count: the Kafka-paying limit below
	// counts the rows mariadb-binlog decodes.
	changes = int64(*flagChanges)
	binlogArgs := func(extra ...string) []string {
		return append(append([]string{"--read-from-remote-server", "--host=127.0.0.1", fmt.Sprintf("--port=%d", m.Port), "--user=root",
			"--password=" + testenv.MariaDBRootPassword}, extra...),
			fmt.Sprintf("--start-position=%d", start.pos), fmt.Sprintf("--stop-position=%d", end.pos), start.file)
	}
	// The limits: mariadb-binlog to /dev/null as it prints by default
	// (row events as base64), and with the rows decoded, as Sluice must.
	// In the order raw, decoded, Sluice, into Kafka, decoded, raw: on a
	// shared machine the load drifts, and each limit /dev/null is the
	// mean of a run before and after Sluice's.
	decodedArgs := binlogArgs("--base64-output=decode-rows", "--verbose")
	var rawTook, decodedTook time.Duration
	var rawCPU, decodedCPU float64
	var rawCmd, decodedCmd string
	readers := func() error {
		raw, err := devNullLimit("mariadb-binlog", binlogArgs()...)
		if err != nil {
			return err
		}
		decoded, err := devNullLimit("mariadb-binlog", decodedArgs...)
		if err != nil {
			return err
		}
		rawTook, decodedTook = rawTook+raw.took/2, decodedTook+decoded.took/2
		rawCPU, decodedCPU = rawCPU+raw.cpu/2, decodedCPU+decoded.cpu/2
		rawCmd, decodedCmd = raw.cmdline, decoded.cmdline
		logf("mariadb-binlog: %s, rows decoded: %s", raw.took.Round(time.Millisecond), decoded.took.Round(time.Millisecond))
		return nil
	}
	if err := readers(); err != nil {
		return nil, err
	}
	p, err = e.start(cfg)
	if err != nil {
		return nil, err
	}
	at, err := p.waitMyCheckpoint(end, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	took := at.Sub(p.started)
	rss, cpu := p.peakRSS(), p.cpuSeconds()
	p.stop()
	shapes, parts, err := e.sampleShapes(ctx, "mydrain.bench.orders", 100_000)
	if err != nil {
		return nil, err
	}
	kl, err := e.kafkaLimit(ctx, "bench.limit.my_drain", parts, shapes, binlogRows, "mariadb-binlog", decodedArgs...)
	if err != nil {
		return nil, err
	}
	if kl.changes > 0 {
		changes = kl.changes
	}
	if err := readers(); err != nil {
		return nil, err
	}
	rate := float64(changes) / took.Seconds()
	rawRate, decodedRate, kafkaRate := float64(changes)/rawTook.Seconds(), float64(changes)/decodedTook.Seconds(), float64(changes)/kl.took.Seconds()
	logf("mariadb drain: %.0f changes/s; mariadb-binlog %.0f/s, rows decoded %.0f/s, into Kafka %.0f/s", rate, rawRate, decodedRate, kafkaRate)
	keyB, valB, tombs := meanShape(shapes)
	out = append(out, result{Scenario: "mariadb drain (exactly-once)", Figures: map[string]float64{
		"changes": float64(changes), "sluice_changes_per_s": rate,
		"mariadb_binlog_changes_per_s": rawRate, "ratio_to_limit": rate / rawRate,
		"mariadb_binlog_decoded_changes_per_s": decodedRate, "ratio_to_decoded_limit": rate / decodedRate,
		"mariadb_binlog_kafka_changes_per_s": kafkaRate, "ratio_to_kafka_limit": rate / kafkaRate,
		"record_key_bytes": keyB, "record_value_bytes": valB, "tombstones_per_change": tombs,
		"peak_rss_mib": rss, "sluice_cpu_us_per_change": cpu * 1e6 / float64(changes),
		"mariadb_binlog_cpu_us_per_change":         rawCPU * 1e6 / float64(changes),
		"mariadb_binlog_decoded_cpu_us_per_change": decodedCPU * 1e6 / float64(changes),
		"kafka_limit_reader_cpu_us_per_change":     kl.cpu * 1e6 / float64(changes),
		"kafka_limit_producer_cpu_us_per_change":   kl.prodCPU * 1e6 / float64(changes),
	}, Limits: map[string]string{"mariadb_binlog_changes_per_s": rawCmd, "mariadb_binlog_decoded_changes_per_s": decodedCmd,
		"mariadb_binlog_kafka_changes_per_s": kl.cmdline},
		Notes: "changes: rows mariadb-binlog decodes in the range (inserts + updates + deletes); limit: mariadb-binlog to /dev/null as it prints by default (row events as base64, not decoded), mean of a run before and after Sluice's; " +
			"decoded limit: the same with every row decoded to text; kafka limit: the decoded rows, each sent as a pre-encoded record of the size Sluice wrote (not transactional)"})

	// Snapshot.
	logf("mariadb: loading %d rows", *flagSnapRows)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`INSERT INTO items (id, account, amount, qty, status, updated, sku, flag, note)
	  SELECT seq, seq %% 1000, (seq %% 100000) / 100.0, seq %% 50, 'pending', now(6), concat('SKU-', seq %% 99999), seq %% 2 = 0, %s
	  FROM seq_1_to_%d`, myNoteExpr("seq"), *flagSnapRows)); err != nil {
		return nil, err
	}
	// The limit: the mariadb client streaming the rows (--quick) in batch
	// format to /dev/null.
	clientArgs := []string{"--host=127.0.0.1", fmt.Sprintf("--port=%d", m.Port), "--user=root", "--password=" + testenv.MariaDBRootPassword,
		"--batch", "--quick", "--skip-column-names", "-e", "SELECT * FROM bench.items"}
	// In the order client, Sluice, client into Kafka, client.
	client, err := devNullLimit("mariadb", clientArgs...)
	if err != nil {
		return nil, err
	}
	clientTook := client.took / 2
	cfg, err = e.myConfig("mysnap", dsn, "bench.items", 54102, "snapshot: {mode: initial_only}\n")
	if err != nil {
		return nil, err
	}
	p, err = e.start(cfg)
	if err != nil {
		return nil, err
	}
	<-p.done
	_ = p.cmd.Wait()
	if p.snapEnd.IsZero() {
		return nil, fmt.Errorf("mariadb snapshot did not complete: %s", p.tail())
	}
	var srss float64
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		srss = float64(ru.Maxrss) / 1024 // KiB
	}
	srate := float64(*flagSnapRows) / p.snapEnd.Sub(p.started).Seconds()
	shapes, parts, err = e.sampleShapes(ctx, "mysnap.bench.items", 100_000)
	if err != nil {
		return nil, err
	}
	skl, err := e.kafkaLimit(ctx, "bench.limit.my_snapshot", parts, shapes, everyLine, "mariadb", clientArgs...)
	if err != nil {
		return nil, err
	}
	if client, err = devNullLimit("mariadb", clientArgs...); err != nil {
		return nil, err
	}
	clientRate := float64(*flagSnapRows) / (clientTook + client.took/2).Seconds()
	skafka := float64(*flagSnapRows) / skl.took.Seconds()
	logf("mariadb snapshot: %.0f rows/s (client %.0f, client into Kafka %.0f), peak RSS %.0f MiB", srate, clientRate, skafka, srss)
	keyB, valB, _ = meanShape(shapes)
	out = append(out, result{Scenario: "mariadb snapshot", Figures: map[string]float64{
		"rows": float64(*flagSnapRows), "sluice_rows_per_s": srate, "mariadb_client_rows_per_s": clientRate, "ratio_to_limit": srate / clientRate,
		"mariadb_client_kafka_rows_per_s": skafka, "ratio_to_kafka_limit": srate / skafka, "peak_rss_mib": srss,
		"record_key_bytes": keyB, "record_value_bytes": valB,
	}, Limits: map[string]string{"mariadb_client_rows_per_s": client.cmdline, "mariadb_client_kafka_rows_per_s": skl.cmdline},
		Notes: "sluice: start to the snapshot's last checkpoint in Kafka (exactly-once), peak RSS of the whole run; limit: the mariadb client to /dev/null (reading only), mean of a run before and after; " +
			"kafka limit: the client's rows, each sent as a pre-encoded record of the size Sluice wrote (not transactional)"})
	return out, nil
}
