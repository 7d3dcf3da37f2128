package testenv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// TestPostgresMajors starts every installed PostgreSQL major, checks it is
// that major and decodes a change with pgoutput.
func TestPostgresMajors(t *testing.T) {
	for _, major := range testenv.PostgresMajors {
		t.Run(fmt.Sprintf("postgres%d", major), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{Major: major})
			if err != nil {
				t.Fatal(err)
			}
			testenv.Cleanup(t, pg)
			checkPostgres(ctx, t, pg)
			conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var num int
			if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
				t.Fatal(err)
			}
			if num/10000 != major || pg.Major != major {
				t.Fatalf("server_version_num %d (Major %d), want PostgreSQL %d", num, pg.Major, major)
			}
			for _, q := range []string{
				"CREATE TABLE t (id int PRIMARY KEY)",
				"CREATE PUBLICATION p FOR TABLE t",
				"SELECT pg_create_logical_replication_slot('s', 'pgoutput')",
				"INSERT INTO t VALUES (1)",
			} {
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("PostgreSQL %d: %s: %v", major, q, err)
				}
			}
			var n int
			err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_logical_slot_get_binary_changes('s', NULL, NULL, 'proto_version', '1', 'publication_names', 'p')").Scan(&n)
			if err != nil || n < 3 { // BEGIN, RELATION, INSERT, COMMIT
				t.Fatalf("PostgreSQL %d: pgoutput messages %d, %v", major, n, err)
			}
		})
	}
}

// TestKafka4 starts the Kafka 4 broker of the compatibility matrix and
// checks that it runs transactions V2 (KIP-890: the producer epoch is bumped
// at every transaction end).
func TestKafka4(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k, err := testenv.StartKafka(ctx, testenv.KafkaOptions{Version: testenv.Kafka4Version})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Cleanup(t, k)
	checkKafka(ctx, t, k)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-testenv", "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	tv := int16(-1)
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" {
			tv = f.MaxVersionLevel
		}
	}
	if tv < 2 {
		t.Fatalf("Kafka %s: finalized transaction.version %d, want 2 (transactions V2)", k.Version, tv)
	}
}
