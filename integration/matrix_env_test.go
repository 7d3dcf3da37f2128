package integration

import (
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// The compatibility matrix (integration/matrix) runs tests of this package
// against other server versions. These variables choose them; unset, the
// tests run on the defaults (PostgreSQL 15, Kafka 3.9, 20 kills; the
// MySQL-source tests on MariaDB 10.11 and MySQL 9):
//
//	SLUICE_TEST_POSTGRES  the shared PostgreSQL's major, one of testenv.PostgresMajors
//	SLUICE_TEST_KAFKA     the shared broker's release: testenv.KafkaVersion or testenv.Kafka4Version
//	SLUICE_TEST_KILLS     how many times TestKillLoop kills sluice
//	SLUICE_TEST_MYSQL     the one server the MySQL-source tests of the core
//	                      suite run on, one of myMatrixServers ("mysql-8.0",
//	                      "mariadb-11.8")
const (
	envPostgres = "SLUICE_TEST_POSTGRES"
	envKafka    = "SLUICE_TEST_KAFKA"
	envKills    = "SLUICE_TEST_KILLS"
	envMySQL    = "SLUICE_TEST_MYSQL"
)

// matrixPostgres returns the options of the shared PostgreSQL.
func matrixPostgres(t testing.TB) testenv.PostgresOptions {
	v := os.Getenv(envPostgres)
	if v == "" {
		return testenv.PostgresOptions{}
	}
	major, err := strconv.Atoi(v)
	if err != nil || !slices.Contains(testenv.PostgresMajors, major) {
		t.Fatalf("%s=%q: want one of %v", envPostgres, v, testenv.PostgresMajors)
	}
	return testenv.PostgresOptions{Major: major}
}

// matrixKafka returns the options of the shared broker.
func matrixKafka(t testing.TB) testenv.KafkaOptions {
	v := os.Getenv(envKafka)
	if v != "" && v != testenv.KafkaVersion && v != testenv.Kafka4Version {
		t.Fatalf("%s=%q: want %s or %s", envKafka, v, testenv.KafkaVersion, testenv.Kafka4Version)
	}
	return testenv.KafkaOptions{Version: v}
}

// matrixKills returns how many times the kill loop kills sluice.
func matrixKills(t testing.TB, def int) int {
	v := os.Getenv(envKills)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", envKills, v)
	}
	return n
}
