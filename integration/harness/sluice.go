// Package harness runs Sluice as a real process against real servers and
// reads back what it produced, for the integration tests of every source.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// repoRoot finds the module root from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds the sluice binary once per test process and returns its
// path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = repoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Process is one running `sluice` command.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	f  *os.File
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		_, _ = s.f.Write(p)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WriteConfig writes a YAML config into the test's temp dir.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start runs `sluice args...` with env added to the environment. Its
// output is kept in memory and in a log file in the test's temp dir, and
// printed when the test fails.
func Start(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	bin := Binary(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	f, err := os.CreateTemp(t.TempDir(), "sluice-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{t: t, cmd: cmd, log: &syncBuffer{f: f}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			if t.Failed() {
				// A goroutine dump shows where a stuck process is.
				_ = cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-p.done:
				case <-time.After(3 * time.Second):
				}
			}
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("sluice %s output:\n%s", strings.Join(args, " "), tail(p.log.String(), 60000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// Run runs `sluice args...` to completion and returns its exit code and
// output.
func Run(t testing.TB, timeout time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	p := Start(t, env, args...)
	return p.Wait(timeout), p.Output()
}

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.log.String() }

// Wait waits for the process to exit and returns its exit code; it fails
// the test on timeout.
func (p *Process) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("sluice did not exit within %s; output:\n%s", timeout, tail(p.Output(), 8000))
	}
	return p.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Interrupt sends SIGINT (a graceful stop) and returns the exit code.
func (p *Process) Interrupt(timeout time.Duration) int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	return p.Wait(timeout)
}

// WaitFor waits until the output contains s; it fails the test on timeout
// or when the process exits first.
func (p *Process) WaitFor(ctx context.Context, s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Output(), s) {
			return
		}
		if p.Exited() {
			p.t.Fatalf("sluice exited (%v) before printing %q; output:\n%s", p.err, s, tail(p.Output(), 8000))
		}
		select {
		case <-ctx.Done():
			p.t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatalf("sluice did not print %q within %s; output:\n%s", s, timeout, tail(p.Output(), 8000))
}
