package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/integration/testenv"
)

type benchEnv struct {
	bin string
	pg  *testenv.Postgres
	k   *testenv.Kafka
	reg *testenv.Registry
	// keepTopics are the topics there before the first scenario
	// (dropTopics keeps them).
	keepTopics map[string]bool
}

func (e *benchEnv) db(ctx context.Context, name string) (string, *pgx.Conn, error) {
	admin, err := pgx.Connect(ctx, e.pg.SuperuserDSN("postgres"))
	if err != nil {
		return "", nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	dsn := e.pg.SuperuserDSN(name)
	c, err := pgx.Connect(ctx, dsn)
	return dsn, c, err
}

// sluiceProc is a running sluice whose log is scanned for checkpoints.
type sluiceProc struct {
	cmd     *exec.Cmd
	started time.Time
	mu      sync.Mutex
	lastCP  checkpoint.LSN
	cpAt    time.Time
	lastMy  myPos // MySQL: last checkpointed file:pos
	myAt    time.Time
	lines   []string
	done    chan struct{}
	snapEnd time.Time
	// reqDone: when each on-demand snapshot request was done.
	reqDone []time.Time
}

var (
	cpLine   = regexp.MustCompile(`msg="checkpoint committed" position="lsn ([0-9A-F]+/[0-9A-F]+)"`)
	cpMyLine = regexp.MustCompile(`msg="checkpoint committed" position="([^":]+):([0-9]+)`)
)

// myPos is a MySQL binlog position.
type myPos struct {
	file string
	pos  uint64
}

func (a myPos) atLeast(b myPos) bool { return a.file > b.file || (a.file == b.file && a.pos >= b.pos) }

func (e *benchEnv) config(name, dsn, tables, extra string) (string, error) {
	y := fmt.Sprintf(`name: %s
log: {level: debug}
source:
  type: postgres
  dsn: %q
  tables: [%s]
  # Prompt idle detection, so the last checkpoint is not held back by
  # the status interval (it would add up to 10s to a drain).
  postgres: {status_interval: 200ms}
kafka:
  brokers: [%s]
schema_registry:
  url: %s
http:
  listen: ""
%s`, name, dsn, tables, strings.Join(e.k.Brokers(), ","), e.reg.URL, extra)
	f, err := os.CreateTemp("", "sluice-bench-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(y)
	return f.Name(), err
}

func (e *benchEnv) start(cfg string, env ...string) (*sluiceProc, error) {
	args := []string{"run", "-c", cfg}
	if *flagProfile != "" {
		args = append(args, "-cpuprofile", fmt.Sprintf("%s.%d", *flagProfile, time.Now().UnixNano()))
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &sluiceProc{cmd: cmd, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp("", "sluice-bench-run-*.log")
	if err != nil {
		return nil, err
	}
	logf("sluice log: %s", logFile.Name())
	go p.scan(io.TeeReader(out, logFile))
	return p, nil
}

func (p *sluiceProc) scan(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		p.mu.Lock()
		if m := cpLine.FindStringSubmatch(l); m != nil {
			if lsn, err := checkpoint.ParseLSN(m[1]); err == nil && lsn > p.lastCP {
				p.lastCP, p.cpAt = lsn, time.Now()
			}
		} else if m := cpMyLine.FindStringSubmatch(l); m != nil {
			pos, _ := strconv.ParseUint(m[2], 10, 64)
			if mp := (myPos{m[1], pos}); mp.atLeast(p.lastMy) {
				p.lastMy, p.myAt = mp, time.Now()
			}
		} else if !strings.Contains(l, "level=DEBUG") {
			p.lines = append(p.lines, l)
		}
		if strings.Contains(l, "snapshot complete") || strings.Contains(l, `msg="snapshots done"`) {
			p.snapEnd = time.Now()
		}
		if strings.Contains(l, `msg="snapshot request done"`) {
			p.reqDone = append(p.reqDone, time.Now())
		}
		p.mu.Unlock()
	}
}

// waitCheckpoint waits until a checkpoint at or after lsn is committed and
// returns when that happened.
func (p *sluiceProc) waitCheckpoint(lsn checkpoint.LSN, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		cp, at := p.lastCP, p.cpAt
		p.mu.Unlock()
		if cp >= lsn {
			return at, nil
		}
		select {
		case <-p.done:
			return time.Time{}, fmt.Errorf("sluice exited: %s", p.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return time.Time{}, fmt.Errorf("no checkpoint at %s within %s: %s", lsn, timeout, p.tail())
}

// waitMyCheckpoint waits for a MySQL checkpoint at or after pos.
func (p *sluiceProc) waitMyCheckpoint(pos myPos, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		cp, at := p.lastMy, p.myAt
		p.mu.Unlock()
		if cp.file != "" && cp.atLeast(pos) {
			return at, nil
		}
		select {
		case <-p.done:
			return time.Time{}, fmt.Errorf("sluice exited: %s", p.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return time.Time{}, fmt.Errorf("no checkpoint at %v within %s: %s", pos, timeout, p.tail())
}

// requestsDone returns how many snapshot requests are done so far.
func (p *sluiceProc) requestsDone() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqDone)
}

// waitRequestDone waits until more than n snapshot requests are done and
// returns when the next one was.
func (p *sluiceProc) waitRequestDone(n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		var at time.Time
		if len(p.reqDone) > n {
			at = p.reqDone[n]
		}
		p.mu.Unlock()
		if !at.IsZero() {
			return at, nil
		}
		select {
		case <-p.done:
			return time.Time{}, fmt.Errorf("sluice exited: %s", p.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return time.Time{}, fmt.Errorf("snapshot request not done within %s: %s", timeout, p.tail())
}

func (p *sluiceProc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.lines)
	return strings.Join(p.lines[max(0, n-10):], "\n")
}

// cpuSeconds returns the process's user+system CPU time so far.
func (p *sluiceProc) cpuSeconds() float64 {
	st, ok := readStat(p.cmd.Process.Pid)
	if !ok {
		return 0
	}
	return st.cpu
}

// procStat is what the bench reads of /proc/<pid>/stat.
type procStat struct {
	ppid, pgrp  int
	cpu         float64 // utime+stime, seconds
	sys         float64 // stime, seconds
	childrenCPU float64 // cutime+cstime of reaped children, seconds
}

func readStat(pid int) (procStat, bool) {
	return readStatFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
}

// readStatFile reads a stat file of /proc: a process's, or a thread's
// (/proc/<pid>/task/<tid>/stat; /proc/<tid>/stat counts the whole process).
func readStatFile(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 15 {
		return procStat{}, false
	}
	num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v / 100 } // USER_HZ
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{ppid: ppid, pgrp: pgrp, cpu: num(11) + num(12), sys: num(12), childrenCPU: num(13) + num(14)}, true
}

// serverLeader returns the pid of the process group leader whose command
// line contains marker, or 0.
func serverLeader(marker string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if st, ok := readStat(pid); ok && st.pgrp == pid && strings.Contains(string(cl), marker) {
			return pid
		}
	}
	return 0
}

// serverCPU returns the CPU seconds used so far by the server whose
// leader's command line contains marker (its data or log directory): the
// leader, its live children and the members of its process group, and
// the children it reaped (Postgres backends that exited; each backend is
// a child of the postmaster in a process group of its own).
func serverCPU(marker string) float64 {
	leader := serverLeader(marker)
	if leader == 0 {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	var total float64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && (st.pgrp == leader || st.ppid == leader) {
			if cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); auxiliary(string(cl)) {
				continue
			}
			total += st.cpu
			if pid == leader {
				total += st.childrenCPU
			}
		}
	}
	return total
}

// auxiliary reports a Postgres background process, whose work (writing
// out pages, vacuum) is not that of the clients being measured.
func auxiliary(cmdline string) bool {
	for _, p := range []string{"checkpointer", "background writer", "walwriter", "autovacuum", "logical replication launcher"} {
		if strings.HasPrefix(cmdline, "postgres: "+p) {
			return true
		}
	}
	return false
}

// cpuMeter measures the CPU the servers use over a span.
type cpuMeter struct {
	e         *benchEnv
	pg, kafka float64
	kafkaPid  int
	kafkaJVM  jvmCPU
}

func (e *benchEnv) meter() cpuMeter {
	pid := serverLeader(e.k.LogDir)
	return cpuMeter{e: e, pg: serverCPU(e.pg.DataDir), kafka: serverCPU(e.k.LogDir), kafkaPid: pid, kafkaJVM: jvmThreadsCPU(pid)}
}

// kafkaJVMSince returns the broker's CPU since m was taken, with its JIT
// and GC parts.
func (m cpuMeter) kafkaJVMSince() jvmCPU {
	return jvmThreadsCPU(m.kafkaPid).sub(m.kafkaJVM)
}

// since returns the CPU seconds Postgres and Kafka used since m was taken.
func (m cpuMeter) since() (pg, kafka float64) {
	return serverCPU(m.e.pg.DataDir) - m.pg, serverCPU(m.e.k.LogDir) - m.kafka
}

// peakRSS returns the process's peak resident set size in MiB (VmHWM).
func (p *sluiceProc) peakRSS() float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (p *sluiceProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
	}
	_ = p.cmd.Wait()
}

func walLSN(ctx context.Context, db *pgx.Conn) (checkpoint.LSN, error) {
	var s string
	if err := db.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		return 0, err
	}
	return checkpoint.ParseLSN(s)
}
