// Package testenv starts real servers for integration tests: PostgreSQL (15
// by default, or another of PostgresMajors), MariaDB 10.11, MySQL
// (StartMySQL, from $SLUICE_CACHE/mysql-<major>), Apache Kafka (single-node
// KRaft; 3.9 by default, or 4.x) and a Confluent-API-compatible
// schema registry (Apicurio Registry). Each server is a private process on free
// loopback ports with its own temporary directory for data, sockets and logs.
//
// Prerequisites are installed by scripts/install-deps.sh (make deps); when
// something is missing the Start functions return an error wrapping
// ErrNotInstalled that says so. Tests must not skip on that error: fail.
//
// Typical use:
//
//	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
//	if err != nil {
//		t.Fatal(err)
//	}
//	testenv.Cleanup(t, pg) // or: defer pg.Stop()
//
// Always arrange for Stop to run (defer or t.Cleanup): it stops the server
// and removes its directory. If the test failed, call Keep first (Cleanup does)
// or set SLUICE_KEEP_LOGS=1 to keep the directory; its path is printed on
// stderr. Every server runs in its own process group with a parent-death
// signal (SIGKILL), so even when Stop is never reached (panic, os.Exit,
// go test -timeout) no server outlives the test binary; only its temporary
// directory is left behind.
package testenv

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is the instruction given when a prerequisite is missing.
const InstallHint = "run scripts/install-deps.sh (make deps)"

// ErrNotInstalled is wrapped by errors returned when a server binary, jar or
// other prerequisite is missing.
var ErrNotInstalled = errors.New("not installed: " + InstallHint)

// Host is the loopback address every server listens on.
const Host = "127.0.0.1"

// Cache returns the directory holding downloaded servers and cached data
// directory templates: $SLUICE_CACHE, or $HOME/.cache/sluice-test.
// scripts/install-deps.sh uses the same default.
func Cache() string {
	if d := os.Getenv("SLUICE_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "sluice-test-cache")
	}
	return filepath.Join(home, ".cache", "sluice-test")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, fmt.Errorf("testenv: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePort is what the Start functions use; a variable so that tests can
// simulate a port taken between FreePort and the server's bind.
var freePort = FreePort

// Stopper is implemented by every server type.
type Stopper interface {
	Stop() error
	Keep()
}

// Cleanup registers tb.Cleanup to stop s at the end of the test, keeping its
// logs (see Keep) when the test failed.
func Cleanup(tb testing.TB, s Stopper) {
	tb.Helper()
	tb.Cleanup(func() {
		if tb.Failed() {
			s.Keep()
		}
		if err := s.Stop(); err != nil {
			tb.Errorf("testenv: stop: %v", err)
		}
	})
}

func notInstalled(what, where string) error {
	return fmt.Errorf("testenv: %s not found (%s): %w", what, where, ErrNotInstalled)
}

func keepLogsEnv() bool {
	v := os.Getenv("SLUICE_KEEP_LOGS")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// defaultTimeout bounds readiness waits when ctx has no deadline.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// ---------------------------------------------------------------- process --

// proc is one running server process, leader of its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // result of Wait, valid once done is closed
}

// startProc starts argv with stdout and stderr appended to logPath, in a new
// process group, killed by the kernel if this process dies.
func startProc(dir, logPath string, cred *syscall.Credential, env []string, argv ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: cred,
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// killGroup SIGKILLs the process group and every descendant of the leader
// (PostgreSQL's children call setsid, so they are not in the group), then
// waits until those descendants are gone, so that a restart does not find
// them still holding shared memory or files.
func (p *proc) killGroup() {
	desc := descendants(p.cmd.Process.Pid)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range desc {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range desc {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// descendants returns the pids of all descendants of pid, from /proc.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := ppid(c); pp > 0 {
			children[pp] = append(children[pp], c)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat returns the state and parent pid fields of /proc/<pid>/stat.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) == 0 {
		return 0, 0, false
	}
	pp, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pp, true
}

func ppid(pid int) int {
	_, pp, ok := procStat(pid)
	if !ok {
		return -1
	}
	return pp
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != 'Z' && st != 'X'
}

// stop sends sig to the leader and waits up to grace for it to exit; then it
// SIGKILLs the process group and the leader's descendants. (After a graceful
// exit nothing is left: the servers wait for their own children.)
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	select {
	case <-p.done:
	case <-t.C:
	}
	t.Stop()
	p.kill()
}

// kill SIGKILLs the process group and the leader's descendants, and waits.
// It does nothing once the leader has exited and been reaped, so that a
// reused pid is never signalled.
func (p *proc) kill() {
	if p == nil || p.exited() {
		return
	}
	p.killGroup()
	<-p.done
}

// ----------------------------------------------------------------- server --

// server holds what all server types share: the process, the temporary
// directory and the keep flag.
type server struct {
	name string
	dir  string

	mu      sync.Mutex
	proc    *proc
	keep    bool
	stopped bool
}

func (s *server) setKeep() {
	s.mu.Lock()
	s.keep = true
	s.mu.Unlock()
}

// finish stops the process (gracefully with sig) and removes the directory
// unless logs are to be kept. Must be called with s.mu held.
func (s *server) finish(sig syscall.Signal, grace time.Duration) error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.proc.stop(sig, grace)
	s.proc = nil
	if s.keep || keepLogsEnv() {
		_ = os.WriteFile(filepath.Join(s.dir, keptFile), nil, 0o644)
		fmt.Fprintf(os.Stderr, "testenv: %s logs kept in %s\n", s.name, s.dir)
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("testenv: %s: remove %s: %w", s.name, s.dir, err)
	}
	return nil
}

func (s *server) killLocked() error {
	if s.stopped {
		return fmt.Errorf("testenv: %s already stopped", s.name)
	}
	s.proc.kill()
	return nil
}

// Files in a server directory that mark who owns it and whether to keep it.
const (
	ownerFile = "testenv.owner" // pid of the test process that created it
	keptFile  = "testenv.kept"  // present when Stop kept the directory
)

var serverDirKinds = []string{"pg", "mariadb", "mysql", "kafka", "registry"}

// ServerRoot is the directory the servers' own directories (data, logs,
// sockets) are made in; "" is os.TempDir(). Set it before the first
// server starts (the benchmark puts them on a tmpfs).
var ServerRoot string

// newServerDir creates the server's temporary directory, recording this
// process as its owner. The first call in a process also removes directories
// left behind by test processes that died without calling Stop.
func newServerDir(name string) (string, error) {
	sweepOnce.Do(sweepStaleDirs)
	dir, err := os.MkdirTemp(ServerRoot, "sluice-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("testenv: %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("testenv: %s: %w", name, err)
	}
	return dir, nil
}

var sweepOnce sync.Once

// sweepStaleDirs removes server directories whose owning process is gone and
// that were not kept on purpose (Keep, SLUICE_KEEP_LOGS). Their servers died
// with the owner (parent-death signal).
func sweepStaleDirs() {
	if keepLogsEnv() {
		return
	}
	for _, kind := range serverDirKinds {
		dirs, _ := filepath.Glob(filepath.Join(cmp.Or(ServerRoot, os.TempDir()), "sluice-"+kind+"-*"))
		for _, d := range dirs {
			if fileExists(filepath.Join(d, keptFile)) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, ownerFile))
			if err != nil {
				continue // not ours, or being created right now
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
				continue
			}
			_ = os.RemoveAll(d)
		}
	}
}

// waitReady polls check until it returns nil, the process exits, or ctx ends.
func waitReady(ctx context.Context, name string, p *proc, logPath string, interval time.Duration, check func(context.Context) error) error {
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("testenv: %s exited during startup (%v); log %s:\n%s", name, p.err, logPath, tail(logPath, 40))
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: %s not ready: %v (last error: %v); log %s:\n%s", name, ctx.Err(), last, logPath, tail(logPath, 40))
		case <-p.done:
		case <-time.After(interval):
		}
	}
}

// startWithPortRetry runs start; when the server failed because its port was
// taken meanwhile (FreePort is racy across processes), it calls repick and
// tries again, at most three times.
func startWithPortRetry(start func() error, logPath string, repick func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			if rerr := repick(); rerr != nil {
				return rerr
			}
		}
		err = start()
		if err == nil || !portConflict(logPath) {
			return err
		}
		// Truncate so the next attempt's check sees only its own output.
		_ = os.Truncate(logPath, 0)
	}
	return err
}

func portConflict(logPath string) bool {
	b, _ := os.ReadFile(logPath)
	for _, s := range []string{"Address already in use", "could not bind", "Port already bound", "seems to be in use by another process", "BindException", "Can't start server: Bind"} {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------- helpers --

// templateKey identifies the binary a cached data directory template was made
// with (size and mtime: cheap, and changes with every package upgrade).
func templateKey(prefix, binary string) string {
	st, err := os.Stat(binary)
	if err != nil {
		return prefix
	}
	return fmt.Sprintf("%s-%d-%d", prefix, st.Size(), st.ModTime().Unix())
}

func templatePath(key string) string {
	return filepath.Join(Cache(), "templates", key)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// copyTree copies the contents of src into the existing directory dst,
// preserving owners and modes.
func copyTree(src, dst string) error {
	out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
	return nil
}

// publishTemplate stores a copy of dir as the template tpl, if nobody else did
// meanwhile. Errors are ignored: the template only saves time.
func publishTemplate(dir, tpl string) {
	if isDir(tpl) {
		return
	}
	if err := os.MkdirAll(filepath.Dir(tpl), 0o755); err != nil {
		return
	}
	tmp := fmt.Sprintf("%s.tmp-%d-%s", tpl, os.Getpid(), randHex(4))
	if err := exec.Command("cp", "-a", dir, tmp).Run(); err != nil {
		os.RemoveAll(tmp)
		return
	}
	if err := os.Rename(tmp, tpl); err != nil {
		os.RemoveAll(tmp)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runLogged runs a setup command, appending its output to logPath.
func runLogged(ctx context.Context, dir, logPath string, cred *syscall.Credential, argv ...string) error {
	return runLoggedInput(ctx, dir, logPath, cred, nil, argv...)
}

// runLoggedInput is runLogged with stdin read from in.
func runLoggedInput(ctx context.Context, dir, logPath string, cred *syscall.Credential, in io.Reader, argv ...string) error {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin = in
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w; log %s:\n%s", strings.Join(argv, " "), err, logPath, tail(logPath, 30))
	}
	return nil
}
