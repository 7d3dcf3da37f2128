package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PID returns the process id of the running sluice.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// PeakRSSKiB returns the process's peak resident set size (VmHWM in
// /proc/<pid>/status) in KiB. It must be called before the process exits.
func (p *Process) PeakRSSKiB() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.PID())
}
