// Command sluice is a change-data-capture sidecar: it tails Postgres
// logical replication (or the MySQL/MariaDB binlog), turns every committed
// row change into an Avro change event in the Debezium envelope and
// produces it to Kafka, checkpointing its position so that nothing is
// lost. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/sluicecdc/sluice/internal/app"
	"github.com/sluicecdc/sluice/internal/config"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

const usage = `usage: sluice <command> [flags]

commands:
  run [-c FILE]                         snapshot where needed, then stream until SIGINT/SIGTERM
  check [-c FILE]                       check every prerequisite (source, Kafka, registry): one line
                                        each, PASS/FAIL/WARN with the fix; exit 1 on any FAIL
  status [-c FILE] [--json]             checkpointed position, source position, lag, slot state
  tail [-c FILE] [--from-beginning] [--max N] TOPIC...
                                        print change events as JSON, one per line
  snapshot [-c FILE] [--wait] TABLE...  ask the instance of this config to snapshot the tables while it
                                        streams (recorded in the source database: survives restarts);
                                        --wait prints progress until they are done
  version                               print version, commit and Go version

-c defaults to config.yaml. Every key can be set from the environment as
SLUICE_<KEY_PATH> (for example SLUICE_SOURCE_DSN). See docs/configuration.md.
`

// exit codes
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "check":
		return cmdCheck(args, stdout, stderr)
	case "status":
		return cmdStatus(args, stdout, stderr)
	case "tail":
		return cmdTail(args, stdout, stderr)
	case "snapshot":
		return cmdSnapshot(args, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sluice %s commit %s %s %s/%s\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// loadConfig parses -c and loads the configuration. A non-zero code means
// the caller should exit with it.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (*config.Config, int) {
	path := fs.String("c", "config.yaml", "configuration file")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, exitUsage
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "c" {
			explicit = true
		}
	})
	cfg, err := config.Load(*path, explicit)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: invalid configuration:\n%v\n", err)
		return nil, exitUsage
	}
	return cfg, exitOK
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file (for performance work)")
	memProfile := fs.String("memprofile", "", "write an allocation profile to this file at exit (for performance work)")
	cfg, code := loadConfig(fs, args, stderr)
	if cfg == nil {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice run: unexpected arguments %v\n", fs.Args())
		return exitUsage
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "sluice run: -cpuprofile: %v\n", err)
			return exitUsage
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "sluice run: -cpuprofile: %v\n", err)
			return exitUsage
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	if *memProfile != "" {
		defer func() {
			f, err := os.Create(*memProfile)
			if err != nil {
				fmt.Fprintf(stderr, "sluice run: -memprofile: %v\n", err)
				return
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintf(stderr, "sluice run: -memprofile: %v\n", err)
			}
		}()
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	log.Info("starting", "version", version, "name", cfg.Name, "source", cfg.Source.Type, "exactly_once", cfg.Kafka.ExactlyOnce)

	// The first signal stops at the next transaction boundary and commits
	// the checkpoint; a second one aborts at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopper := &app.Stopper{}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		log.Info("signal received; stopping at the next transaction boundary (send it again to abort)", "signal", sig.String())
		stopper.Stop()
		sig = <-sigs
		log.Warn("second signal; aborting without a final checkpoint", "signal", sig.String())
		cancel()
	}()
	st := app.NewState()
	if err := app.ServeHTTP(ctx, cfg.HTTP, st, log); err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	if err := app.Run(ctx, cfg, log, st, stopper); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return exitFailure // aborted by a second signal, already logged
		}
		log.Error("stopped with an error", "err", err)
		if config.IsConfigError(err) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func cmdTail(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	from := fs.Bool("from-beginning", false, "read the topics from the beginning")
	max := fs.Int("max", 0, "stop after this many records (0: no limit)")
	cfg, code := loadConfig(fs, args, stderr)
	if cfg == nil {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "sluice tail: name at least one topic")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Tail(ctx, cfg, app.TailOptions{Topics: fs.Args(), FromBeginning: *from, Max: *max}, stdout); err != nil {
		fmt.Fprintf(stderr, "sluice tail: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfg, code := loadConfig(fs, args, stderr)
	if cfg == nil {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice check: unexpected arguments %v\n", fs.Args())
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if !app.Check(ctx, cfg, stdout) {
		return exitFailure
	}
	return exitOK
}

func cmdSnapshot(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	wait := fs.Bool("wait", false, "print progress and return when the tables are done")
	cfg, code := loadConfig(fs, args, stderr)
	if cfg == nil {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "sluice snapshot: name at least one table (<schema>.<table>)\n")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.RequestSnapshot(ctx, cfg, fs.Args(), *wait, stdout); err != nil {
		fmt.Fprintf(stderr, "sluice snapshot: %v\n", err)
		var ce *config.Error
		if errors.As(err, &ce) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	cfg, code := loadConfig(fs, args, stderr)
	if cfg == nil {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice status: unexpected arguments %v\n", fs.Args())
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st := app.Status(ctx, cfg)
	write := st.WriteText
	if *asJSON {
		write = st.WriteJSON
	}
	if err := write(stdout); err != nil {
		fmt.Fprintf(stderr, "sluice status: %v\n", err)
		return exitFailure
	}
	if err := st.Err(); err != nil {
		fmt.Fprintf(stderr, "sluice status: %v\n", err)
		return exitFailure
	}
	return exitOK
}
