package cgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

var testDirs atomic.Int64

// testBase makes an empty cgroup directory for one test, under our own
// cgroup, and removes it (killing whatever is left in it) when the test
// ends. It skips the test where this machine allows no such thing: not
// root, no writable cgroup2, no clone3.
func testBase(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroup tests need root")
	}
	h, err := lookHost()
	if err != nil {
		t.Skip("no usable cgroup2:", err)
	}
	if err := checkKernel(); err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(h.own, fmt.Sprintf("fcgi-wrap-test.%d.%d", os.Getpid(), testDirs.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skip("cgroup2 not writable here:", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
		defer cancel()
		if err := RemoveTree(ctx, dir); err != nil {
			t.Errorf("removing test cgroup %s: %v", dir, err)
		}
	})
	return dir
}

// setupIn builds a tree under base and closes it when the test ends.
func setupIn(t testing.TB, base string, limits ...Limit) *Tree {
	t.Helper()
	tree, why, err := Setup(Options{Mode: base, Limits: limits})
	if err != nil || tree == nil {
		t.Fatalf("Setup(%s): got tree %v, %q, error %v; want a tree", base, tree, why, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
		defer cancel()
		if err := tree.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tree
}

// startIn starts a shell command directly inside r's cgroup and reaps it
// when the test ends; stdout is returned to read what it prints.
func startIn(t *testing.T, r *Request, script string) (*exec.Cmd, *os.File) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdout = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: r.FD()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting into %s: %v", r.Path(), err)
	}
	pw.Close()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		pr.Close()
	})
	return cmd, pr
}

// escape is shell that starts a process in a session of its own and
// prints its pid once it has left the caller's process group (the echo
// runs after setsid).
const escape = `setsid sh -c 'echo $$; exec sleep 600' &`

// readPid reads one line holding a pid.
func readPid(t *testing.T, f *os.File) int {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(testutil.Deadline))
	var b [1]byte
	var line []byte
	for {
		if _, err := f.Read(b[:]); err != nil {
			t.Fatalf("reading a pid after %q: %v", line, err)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	pid, err := strconv.Atoi(string(line))
	if err != nil {
		t.Fatalf("got %q, want a pid", line)
	}
	return pid
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// cgroupOf is pid's cgroup v2 path.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ownPath(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hierarchyPath is dir as /proc/PID/cgroup writes it.
func hierarchyPath(t *testing.T, dir string) string {
	t.Helper()
	h, err := lookHost()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(h.mount.point, dir)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(h.mount.root, rel)
}

// needController skips a test where controller c cannot be had under base.
func needController(t *testing.T, base, c string) {
	t.Helper()
	avail, _ := words(filepath.Join(base, "cgroup.controllers"))
	if !avail[c] {
		t.Skipf("the %s controller is not available in this cgroup2 tree (%s)", c, base)
	}
}
