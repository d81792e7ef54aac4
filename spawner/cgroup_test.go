package spawner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// containChild is the test program for the cgroup tests.
func containChild(mode string, out *bufio.Writer) int {
	switch mode {
	case "escape":
		// A descendant in a session of its own, like a daemonizing tool or
		// Fossil's backoffice; Start returns after its setsid and exec.
		cmd := exec.Command(self)
		cmd.Env = []string{modeEnv + "=sleep"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(out, cmd.Process.Pid)
		out.Flush()
		sleepForever()
	case "spin": // burns at least 50ms of CPU, then exits
		// Counted in CPU, not in wall time: on a busy machine 50ms of
		// wall time held as little as 32ms of CPU, and the test that
		// reads it back failed. The wall-time bound only keeps a stuck
		// clock from spinning forever.
		for start := time.Now(); time.Since(start) < 10*time.Second; {
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			if ru.Utime.Nano()+ru.Stime.Nano() > int64(50*time.Millisecond) {
				break
			}
		}
	}
	return 0
}

// testCgroup is a cgroup v2 directory for one test: what the caller of
// Start provides in production (internal/cgroup), reduced to what the
// spawner needs.
type testCgroup struct {
	dir string
	fd  int
}

func (c *testCgroup) FD() int { return c.fd }
func (c *testCgroup) Kill() error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0)
}

// newTestCgroup makes a cgroup under our own, removed when the test ends
// (after the test's Processes are closed). It skips where this machine
// has no writable cgroup2 with cgroup.kill.
func newTestCgroup(t *testing.T) *testCgroup {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroup tests need root")
	}
	own, err := ownCgroupDir()
	if err != nil {
		t.Skip("no cgroup2:", err)
	}
	dir := filepath.Join(own, fmt.Sprintf("spawner-test.%d.%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skip("cgroup2 not writable:", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		os.Remove(dir)
		t.Skip("no cgroup.kill (Linux 5.14):", err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCgroup{dir: dir, fd: fd}
	t.Cleanup(func() {
		c.Kill()
		unix.Close(fd)
		deadline := time.Now().Add(waitLimit)
		for err := os.Remove(dir); errors.Is(err, syscall.EBUSY); err = os.Remove(dir) {
			if time.Now().After(deadline) {
				t.Errorf("test cgroup %s still busy after %v", dir, waitLimit)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return c
}

// ownCgroupDir is our cgroup v2 directory, from mountinfo and
// /proc/self/cgroup.
func ownCgroupDir() (string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	point := ""
	for _, line := range strings.Split(string(mi), "\n") {
		if _, after, ok := strings.Cut(line, " - cgroup2 "); ok && after != "" {
			point = strings.Fields(line)[4]
			break
		}
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil || point == "" {
		return "", errors.New("no cgroup2 mount")
	}
	for _, line := range strings.Split(string(cg), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(point, p), nil
		}
	}
	return "", errors.New("no cgroup v2 line in /proc/self/cgroup")
}

// TestStartInsideCgroup: the child is in the cgroup from the start, not
// moved there after it ran.
func TestStartInsideCgroup(t *testing.T) {
	cg := newTestCgroup(t)
	cfg := childConfig("sleep", "ready")
	cfg.Cgroup = cg
	p := start(t, cfg)
	readLine(t, p.Stdout())
	procs, err := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs"))
	if err != nil || !bytes.Contains(procs, []byte(strconv.Itoa(p.Pid())+"\n")) {
		t.Errorf("cgroup.procs of %s: got %q, %v; want pid %d", cg.dir, procs, err, p.Pid())
	}
}

// TestKillReachesSetsidDescendants: KillNow and Kill (after its grace)
// end a descendant that left the process group with setsid when the
// process has a cgroup; without one that descendant survives, which is
// what process groups alone can do.
func TestKillReachesSetsidDescendants(t *testing.T) {
	tests := []struct {
		name      string
		cgroup    bool
		grace     time.Duration
		now       bool
		wantAlive bool
	}{
		{"KillNow with a cgroup", true, 0, true, false},
		{"Kill after the grace with a cgroup", true, 20 * time.Millisecond, false, false},
		{"Kill with no grace with a cgroup", true, 0, false, false},
		{"KillNow without a cgroup", false, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := childConfig("escape")
			cfg.KillGrace = tt.grace
			if tt.cgroup {
				cfg.Cgroup = newTestCgroup(t)
			} else if os.Geteuid() != 0 {
				t.Skip("the contrast with cgroups needs root")
			}
			p := start(t, cfg)
			escapee, err := strconv.Atoi(readLine(t, p.Stdout()))
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Kill(escapee, syscall.SIGKILL)
			if tt.now {
				p.KillNow()
			} else {
				p.Kill()
			}
			waitDone(t, p)
			if tt.wantAlive {
				if !alive(escapee) {
					t.Errorf("escapee %d: got dead, want it alive (no cgroup reaches it)", escapee)
				}
				return
			}
			waitDead(t, escapee)
		})
	}
}

// TestCPUTimeFromRusage: without a cgroup the CPU a script used comes
// from the rusage the kernel reports with its exit.
func TestCPUTimeFromRusage(t *testing.T) {
	p := start(t, childConfig("spin"))
	if got := p.CPUTime(); got != 0 {
		t.Errorf("before exit: got %v, want 0", got)
	}
	waitDone(t, p)
	if got := p.CPUTime(); got < 40*time.Millisecond {
		t.Errorf("after exit: got %v, want at least the 50ms the child spun (less a tick)", got)
	}
}

// TestCgroupKillAfterClose: Close has the last word; no kill reaches the
// cgroup afterwards.
func TestCgroupKillAfterClose(t *testing.T) {
	cg := &countingCgroup{}
	cfg := childConfig("exit", "0")
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.cgroup = cg // no real cgroup needed to count the calls
	waitDone(t, p)
	p.Close()
	p.KillNow()
	p.Kill()
	if cg.kills != 0 {
		t.Errorf("kills after Close: got %d, want 0", cg.kills)
	}
}

type countingCgroup struct{ kills int }

func (c *countingCgroup) FD() int     { return -1 }
func (c *countingCgroup) Kill() error { c.kills++; return nil }
