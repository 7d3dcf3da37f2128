// Package matrix runs the core compatibility suite, tests of package
// integration, against the server versions beside the defaults: each
// PostgreSQL major of testenv.PostgresMajors other than 15, Kafka 4
// (transactions V2), MySQL 8.0 and MariaDB 11.8. It builds the integration test binary and runs the
// suite's tests in it once per version, choosing the version with the
// variables that integration/matrix_env_test.go reads. A package of its own
// so that `go test ./integration/...` runs it beside the main package.
package matrix

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/integration/testenv"
)

// coreTests are the core compatibility suite: the type matrix, streaming
// (event shapes, DDL mid-stream, resume), the snapshot-to-stream handoff,
// DDL during the snapshot, the exactly-once kill loop, and sluice check.
var coreTests = []string{
	"TestPostgresTypeMatrix",
	"TestCheckPasses",
	"TestPostgresStreaming",
	"TestPostgresSnapshotHandoff",
	"TestPostgresSnapshotDDL",
	"TestKillLoop/exactly_once",
}

// myCoreTests are the core compatibility suite of the MySQL source, run on
// one MySQL or MariaDB server: the type matrix, streaming (event shapes, a
// restart resumed by GTID), the snapshot-to-stream handoff under load, DDL
// (mid-stream and inside a transaction group) and the exactly-once kill
// loop with 5 kills (the core size of TestMySQLKillLoop).
var myCoreTests = []string{
	"TestMySQLTypeMatrix",
	"TestMySQLStreaming",
	"TestMySQLSnapshotHandoff",
	"TestMySQLDDL",
	"TestMySQLDDLInsideGroup",
	"TestMySQLKillLoop",
}

// myMatrixServers are the MySQL and MariaDB servers of the matrix, as
// SLUICE_TEST_MYSQL names them (integration/mysql_servers_test.go), with
// their tests. The main package runs every MySQL-source test on MariaDB
// 10.11 and the core suite on MySQL 9.
//
// MySQL 8.0.15 refuses CREATE TABLE ... SELECT with GTIDs on (error 1786,
// "Statement violates GTID consistency"; allowed from 8.0.21), so it never
// logs a DDL inside an event group and TestMySQLDDLInsideGroup does not
// apply to it.
var myMatrixServers = []struct {
	name  string
	tests []string
}{
	{"mysql-8.0", without(myCoreTests, "TestMySQLDDLInsideGroup")},
	{"mariadb-11.8", myCoreTests},
}

func without(tests []string, name string) []string {
	var out []string
	for _, t := range tests {
		if t != name {
			out = append(out, t)
		}
	}
	return out
}

// kafkaTests are the Kafka suite: streaming, the exactly-once kill loop,
// and the tests of transactions whose producer epochs transactions V2
// changes: fencing a second instance, a commit the killed producer never
// heard of, a broker restart and a network cut under load.
var kafkaTests = []string{
	"TestPostgresStreaming",
	"TestKillLoop/exactly_once",
	"TestSecondInstance",
	"TestExactlyOnceClaimBeforeCheckpointRead",
	"TestFaultKafka",
}

// killLoopKills is how many times the matrix's kill loop kills sluice.
const killLoopKills = 5

type version struct {
	name  string // names the version in failures
	env   []string
	tests []string
}

func versions() []version {
	var vs []version
	for _, major := range testenv.PostgresMajors {
		if major == testenv.PostgresMajor {
			continue // the main package runs everything on it
		}
		vs = append(vs, version{
			name:  fmt.Sprintf("PostgreSQL_%d", major),
			env:   []string{fmt.Sprintf("SLUICE_TEST_POSTGRES=%d", major)},
			tests: coreTests,
		})
	}
	vs = append(vs, version{
		name:  "Kafka_" + testenv.Kafka4Version,
		env:   []string{"SLUICE_TEST_KAFKA=" + testenv.Kafka4Version},
		tests: kafkaTests,
	})
	for _, server := range myMatrixServers {
		vs = append(vs, version{
			name:  server.name,
			env:   []string{"SLUICE_TEST_MYSQL=" + server.name},
			tests: server.tests,
		})
	}
	return vs
}

func TestCompatibility(t *testing.T) {
	bin := buildIntegration(t)
	for _, v := range versions() {
		t.Run(v.name, func(t *testing.T) { run(t, bin, v) })
	}
}

// integrationDir is the directory of package integration.
func integrationDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// buildIntegration compiles the integration test binary.
func buildIntegration(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "integration.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, ".")
	cmd.Dir = integrationDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c ./integration: %v\n%s", err, out)
	}
	return bin
}

// runPattern is the -test.run pattern selecting tests, given as Test or
// Test/subtest (subtest patterns must not select subtests of the others).
func runPattern(tests []string) string {
	var top, sub []string
	for _, name := range tests {
		parent, child, ok := strings.Cut(name, "/")
		top = append(top, regexp.QuoteMeta(parent))
		if ok {
			sub = append(sub, regexp.QuoteMeta(child))
		}
	}
	p := "^(" + strings.Join(top, "|") + ")$"
	if len(sub) > 0 {
		p += "/^(" + strings.Join(sub, "|") + ")$"
	}
	return p
}

// run runs the tests of v in the integration test binary and reports each
// one's result under v's name.
func run(t *testing.T, bin string, v version) {
	start := time.Now()
	logFile := filepath.Join(t.TempDir(), "output.txt")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-test.run", runPattern(v.tests), "-test.v", "-test.count=1", "-test.timeout=20m")
	cmd.Dir = integrationDir()
	cmd.Env = append(append(os.Environ(), v.env...), fmt.Sprintf("SLUICE_TEST_KILLS=%d", killLoopKills))
	cmd.Stdout = out
	cmd.Stderr = out
	runErr := cmd.Run()

	// The per-test results and figures, named by the version.
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	passed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	result := regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+s)\)`)
	for sc.Scan() {
		line := sc.Text()
		if m := result.FindStringSubmatch(line); m != nil {
			t.Logf("%s: %s %s (%s)", v.name, m[1], m[2], m[3])
			passed[m[2]] = m[1] == "PASS"
		} else if strings.Contains(line, "figures:") {
			t.Logf("%s: %s", v.name, strings.TrimSpace(line))
		}
	}
	var failed []string
	for _, name := range v.tests {
		if !passed[name] {
			failed = append(failed, name)
		}
	}
	if runErr != nil || len(failed) > 0 {
		var out strings.Builder
		for _, name := range failed {
			out.WriteString(section(string(data), name))
		}
		if out.Len() == 0 {
			out.WriteString(tail(string(data), 200))
		}
		t.Errorf("%s: %v did not pass (%v); %s %s printed:\n%s",
			v.name, failed, runErr, strings.Join(v.env, " "), strings.Join(cmd.Args[1:], " "), out.String())
	}
	t.Logf("%s: %d tests in %s", v.name, len(v.tests), time.Since(start).Round(time.Second))
}

// section returns the output of test name, from its === RUN line to its
// result, shortened in the middle.
func section(out, name string) string {
	start := strings.Index(out, "=== RUN   "+name+"\n")
	if start < 0 {
		return ""
	}
	rest := out[start:]
	end := regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): ` + regexp.QuoteMeta(name) + ` .*$`).FindStringIndex(rest)
	if end != nil {
		rest = rest[:end[1]]
	}
	l := strings.Split(rest, "\n")
	if len(l) > 160 {
		l = append(append(l[:80:80], "..."), l[len(l)-80:]...)
	}
	return strings.Join(l, "\n") + "\n"
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = append([]string{"..."}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}
