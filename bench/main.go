// Command bench measures Sluice against the physical limits beside it, in
// the same run, on the same servers: `make bench` (or `go run ./bench`).
// Every figure is printed next to its limit and the ratio between them;
// the table and a JSON file (bench/results/latest.json) hold every figure,
// the versions and the machine.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicecdc/sluice/integration/testenv"
)

type result struct {
	Scenario string             `json:"scenario"`
	Figures  map[string]float64 `json:"figures"`
	// Limits holds the exact command line of each limit, by the name of
	// its figure.
	Limits map[string]string `json:"limits,omitempty"`
	Notes  string            `json:"notes,omitempty"`
}

type report struct {
	Date     string            `json:"date"`
	Machine  map[string]any    `json:"machine"`
	Versions map[string]string `json:"versions"`
	Flags    map[string]any    `json:"flags"`
	Results  []result          `json:"results"`
}

var (
	flagChanges   = flag.Int("changes", 1_000_000, "committed changes in the backlog-drain scenarios")
	flagDrainRuns = flag.Int("drain-runs", 5, "Postgres drain runs of each delivery mode, interleaved")
	flagSnapRows  = flag.Int("snapshot-rows", 1_000_000, "rows in the snapshot table")
	flagSnapRuns  = flag.Int("snapshot-runs", 3, "rounds of COPY, the Postgres snapshot and COPY into Kafka, interleaved")
	flagBigTxn    = flag.Int("big-txn", 1_000_000, "rows in the single-transaction memory scenario")
	flagFreshSecs = flag.Int("fresh-seconds", 60, "seconds of steady load per freshness rate")
	flagRates     = flag.String("rates", "2000,10000", "steady change rates for the freshness scenario")
	flagWide      = flag.Bool("wide", false, "use ~2 KB rows instead of ~200 bytes")
	flagOnly      = flag.String("only", "", "comma-separated scenarios to run (kafka,drain,transforms,snapshot,watermarks,freshness,bigtxn,mariadb,eosbroker)")
	flagOut       = flag.String("out", "bench/results/latest.json", "JSON output")
	flagQuick     = flag.Bool("quick", false, "small sizes for a run of a few minutes")
	flagProfile   = flag.String("cpuprofile", "", "write a CPU profile of every sluice run to FILE.<n>, and of the producer of each limit that pays for Kafka to FILE.<topic>")
	flagEOSPairs  = flag.Int("eos-pairs", 6, "timed runs of each delivery mode in the eosbroker scenario")
	flagDataDir   = flag.String("data-dir", "/dev/shm", "where Postgres, MariaDB, Kafka and the registry keep their data: a tmpfs keeps the VM's disk writeback (kernel threads on the same two cores, a broker slowed in write) out of the figures, as servers on machines of their own keep theirs off Sluice's; \"\": the system's temporary directory")
	flagKafkaJFR  = flag.String("kafka-jfr", "", "record the broker with Java Flight Recorder (profile settings) over the whole bench into FILE (read it with `jfr print`; the log's times delimit the runs)")
)

func main() {
	flag.Parse()
	if *flagQuick {
		*flagChanges, *flagSnapRows, *flagBigTxn, *flagFreshSecs = 200_000, 200_000, 200_000, 15
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func want(s string) bool {
	if *flagOnly == "" {
		return true
	}
	for _, o := range strings.Split(*flagOnly, ",") {
		if strings.TrimSpace(o) == s {
			return true
		}
	}
	return false
}

func run() error {
	ctx := context.Background()
	bin, err := buildSluice()
	if err != nil {
		return err
	}
	root, err := serverRoot(*flagDataDir)
	if err != nil {
		return err
	}
	if root != "" {
		defer os.RemoveAll(root)
		testenv.ServerRoot = root
	}
	logf("starting PostgreSQL 15, Kafka %s and the schema registry (data in %s)", testenv.KafkaVersion, cmp.Or(root, os.TempDir()))
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{ExtraConf: map[string]string{
		"shared_buffers": "512MB", "max_wal_size": "8GB", "checkpoint_timeout": "30min",
		// Every drain run and limit reads from a slot of its own.
		"max_replication_slots": "40", "max_wal_senders": "20",
	}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	// The broker runs with Kafka's own JVM defaults, not the test
	// harness's fast-start flags.
	jvm := testenv.KafkaDefaultJVMFlags
	if *flagKafkaJFR != "" {
		f, err := filepath.Abs(*flagKafkaJFR)
		if err != nil {
			return err
		}
		jvm = append(slices.Clone(jvm), "-XX:StartFlightRecording=settings=profile,dumponexit=true,filename="+f)
	}
	// A deleted topic's files go at once (dropTopics), not a minute later,
	// and the warm-up's topics keep their retention.bytes (warmBroker).
	k, err := testenv.StartKafka(ctx, testenv.KafkaOptions{JVMFlags: jvm,
		ExtraConfig: map[string]string{"log.segment.delete.delay.ms": "0", "log.retention.check.interval.ms": "10000"}})
	if err != nil {
		return err
	}
	defer k.Stop()
	reg, err := testenv.StartRegistry(ctx, k)
	if err != nil {
		return err
	}
	defer reg.Stop()
	env := &benchEnv{bin: bin, pg: pg, k: k, reg: reg}
	if env.keepTopics, err = env.topicsNow(ctx); err != nil {
		return err
	}
	rep := &report{
		Date:     time.Now().UTC().Format(time.RFC3339),
		Machine:  machine(),
		Versions: map[string]string{"go": runtime.Version(), "kafka": testenv.KafkaVersion, "registry": "apicurio " + testenv.RegistryVersion},
		Flags: map[string]any{"changes": *flagChanges, "snapshot_rows": *flagSnapRows, "big_txn": *flagBigTxn,
			"fresh_seconds": *flagFreshSecs, "rates": *flagRates, "wide": *flagWide, "data_dir": cmp.Or(root, os.TempDir())},
	}
	if v, err := exec.Command(filepath.Join(testenv.PostgresBinDir(), "postgres"), "--version").Output(); err == nil {
		rep.Versions["postgres"] = strings.TrimSpace(string(v))
	}
	steps := []struct {
		name string
		fn   func(context.Context, *benchEnv) ([]result, error)
	}{
		{"kafka", benchKafka},
		{"drain", benchPostgresDrain},
		{"transforms", benchTransforms},
		{"snapshot", benchPostgresSnapshot},
		{"watermarks", benchWatermarks},
		{"freshness", benchFreshness},
		{"bigtxn", benchBigTxn},
		{"mariadb", benchMariaDB},
		{"eosbroker", benchEOSBroker},
	}
	for _, s := range steps {
		if !want(s.name) {
			continue
		}
		load := loadAverage()
		logf("scenario %s (load average %.2f)", s.name, load)
		rs, err := s.fn(ctx, env)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		// How busy the machine was: on a shared machine absolute rates
		// follow it.
		for _, r := range rs {
			r.Figures["load_average_1m_at_start"] = load
		}
		rep.Results = append(rep.Results, rs...)
		// The next scenario starts on a quiet machine, with room on the
		// tmpfs.
		if err := env.dropTopics(ctx); err != nil {
			logf("deleting the scenario's topics: %v", err)
		}
		if err := env.dropDatabases(ctx); err != nil {
			logf("dropping the scenario's databases: %v", err)
		}
	}
	printTable(rep)
	if err := os.MkdirAll(filepath.Dir(*flagOut), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(*flagOut, append(b, '\n'), 0o644)
}

// loadAverage returns the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	var l float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%f", &l)
	}
	return l
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func buildSluice() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

func machine() map[string]any {
	m := map[string]any{"cores": runtime.NumCPU(), "os": runtime.GOOS, "arch": runtime.GOARCH}
	if b, ok := meminfo("MemTotal"); ok {
		m["memory_gib"] = float64(b) / (1 << 30)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return m
}

func printTable(rep *report) {
	fmt.Printf("\nSluice benchmark, %s, %v cores, %.0f GiB, %v\n\n", rep.Date, rep.Machine["cores"], rep.Machine["memory_gib"], rep.Machine["cpu"])
	for _, r := range rep.Results {
		fmt.Printf("%-44s", r.Scenario)
		keys := make([]string, 0, len(r.Figures))
		for k := range r.Figures {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for i, k := range keys {
			if i > 0 {
				fmt.Printf("\n%-44s", "")
			}
			fmt.Printf("%-38s %14.2f", k, r.Figures[k])
		}
		if r.Notes != "" {
			fmt.Printf("\n%-44s%s", "", r.Notes)
		}
		keys = keys[:0]
		for k := range r.Limits {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			fmt.Printf("\n%-44s%s: %s", "", k, r.Limits[k])
		}
		fmt.Println()
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// meminfo returns a field of /proc/meminfo in bytes.
func meminfo(field string) (uint64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(l, field+": %d kB", &kb); err == nil {
			return kb << 10, true
		}
	}
	return 0, false
}

// memAvailable is the kernel's estimate of the memory available (bytes;
// the most there is when unknown).
func memAvailable() uint64 {
	if b, ok := meminfo("MemAvailable"); ok {
		return b
	}
	return ^uint64(0)
}

// serverRoot makes the directory the servers keep their data in, under
// dir: "" (dir empty, or without room: 12 GiB) means
// the system's temporary directory.
func serverRoot(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		logf("-data-dir %s: %v: the servers keep their data in %s", dir, err, os.TempDir())
		return "", nil
	}
	// The topics of one scenario (dropTopics deletes them after it) and
	// Postgres: about 9 GiB at most.
	free := st.Bavail * uint64(st.Bsize)
	if avail := memAvailable(); avail < free {
		free = avail // a tmpfs holds its files in memory
	}
	if free < 12<<30 {
		logf("-data-dir %s: %d MiB free (or available memory), under the 12 GiB a bench may keep there: the servers keep their data in %s", dir, free>>20, os.TempDir())
		return "", nil
	}
	root, err := os.MkdirTemp(dir, "sluice-bench-")
	if err != nil {
		return "", fmt.Errorf("-data-dir: %w", err)
	}
	// Postgres runs as its own user and must reach its directory.
	return root, os.Chmod(root, 0o755)
}
