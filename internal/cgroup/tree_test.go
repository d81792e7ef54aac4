package cgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

// TestSetupBuildsTreeAndCloseRemovesIt: fcgi-wrap moves into a leaf of
// its instance, scripts get a directory of their own, and Close moves it
// back and leaves nothing behind.
func TestSetupBuildsTreeAndCloseRemovesIt(t *testing.T) {
	base := testBase(t)
	before := cgroupOf(t, os.Getpid())
	tree, why, err := Setup(Options{Mode: base})
	if err != nil || tree == nil {
		t.Fatalf("Setup: got %v, %q, %v; want a tree", tree, why, err)
	}
	if want := filepath.Join(base, "fcgi-wrap."+strconv.Itoa(os.Getpid())); tree.Dir() != want {
		t.Errorf("instance: got %s, want %s", tree.Dir(), want)
	}
	if got, want := cgroupOf(t, os.Getpid()), hierarchyPath(t, filepath.Join(tree.Dir(), "supervisor")); got != want {
		t.Errorf("after Setup we are in %s, want %s", got, want)
	}
	if _, err := os.Stat(tree.KillFile()); err != nil {
		t.Errorf("scripts' kill file: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	if err := tree.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := cgroupOf(t, os.Getpid()); got != before {
		t.Errorf("after Close we are in %s, want %s again", got, before)
	}
	if _, err := os.Stat(tree.Dir()); !os.IsNotExist(err) {
		t.Errorf("instance after Close: got %v, want it gone", err)
	}
}

// TestRequestStartsInsideAndKillReachesEscapees: a process started into
// a request cgroup is inside it from its first instruction, and Kill ends
// a descendant that left the process group and session with setsid, which
// a process-group kill does not reach.
func TestRequestStartsInsideAndKillReachesEscapees(t *testing.T) {
	tree := setupIn(t, testBase(t))
	r := newRequestIn(t, tree)
	cmd, out := startIn(t, r, escape+"\nexec sleep 600")
	escapee := readPid(t, out)
	want := hierarchyPath(t, r.Path())
	for _, pid := range []int{cmd.Process.Pid, escapee} {
		if got := cgroupOf(t, pid); got != want {
			t.Errorf("pid %d in %s, want %s", pid, got, want)
		}
	}
	// What a process-group kill does, as the baseline: the escapee lives.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the group leader to die", func() bool { return !alive(cmd.Process.Pid) })
	if !alive(escapee) {
		t.Fatal("the setsid'd escapee died with its old group; the test proves nothing")
	}
	if err := r.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	testutil.WaitFor(t, "the escapee to die", func() bool { return !alive(escapee) })
}

// TestUsageCountsEveryProcess: cpu.stat counts the CPU of the script and
// of the children it did not wait for.
func TestUsageCountsEveryProcess(t *testing.T) {
	tree := setupIn(t, testBase(t))
	r := newRequestIn(t, tree)
	// A background child spins for a while; the script itself does not.
	cmd, _ := startIn(t, r, `(i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done) & exit 0`)
	cmd.Wait()
	testutil.WaitFor(t, "the spinning child to finish", func() bool { return !populated(r.Path()) })
	if u := r.Usage(); u.CPU < time.Millisecond {
		t.Errorf("CPU: got %v, want the child's loop (well over 1ms)", u.CPU)
	}
}

// TestRemoveKillsWhatIsLeft: a request cgroup that still holds a process
// is emptied and removed.
func TestRemoveKillsWhatIsLeft(t *testing.T) {
	tree := setupIn(t, testBase(t))
	r := mustNew(t, tree)
	_, out := startIn(t, r, escape)
	left := readPid(t, out)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	if err := r.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(r.Path()); !os.IsNotExist(err) {
		t.Errorf("request cgroup after Remove: got %v, want it gone", err)
	}
	testutil.WaitFor(t, "the leftover process to die", func() bool { return !alive(left) })
}

// TestStaleTreeKilledAndRemoved: a tree left by an instance that is gone
// (its pid is no process) is killed and removed by the next Setup; a live
// instance's tree is left alone.
func TestStaleTreeKilledAndRemoved(t *testing.T) {
	base := testBase(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(base, "fcgi-wrap."+strconv.Itoa(dead.Process.Pid))
	live := filepath.Join(base, "fcgi-wrap.1") // pid 1 always runs
	for _, d := range []string{stale, filepath.Join(stale, "scripts"), filepath.Join(stale, "scripts", "7"), live} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := openDir(filepath.Join(stale, "scripts", "7"))
	if err != nil {
		t.Fatal(err)
	}
	orphan := &Request{tree: &Tree{scripts: filepath.Join(stale, "scripts")}, name: "7", fd: fd, files: noFiles}
	_, out := startIn(t, orphan, escape+"\nexec sleep 600")
	left := readPid(t, out)

	setupIn(t, base)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale tree after Setup: got %v, want it removed", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live instance's tree after Setup: got %v, want it kept", err)
	}
	testutil.WaitFor(t, "the stale tree's script to die", func() bool { return !alive(left) })
}

// TestMissingControllerFailsWithRemedy: a limit whose controller the
// directory cannot hand down fails Setup and Check, naming the controller
// and how to enable it. The directory is made so on every machine: a
// child of a cgroup whose subtree_control is empty has no controllers.
func TestMissingControllerFailsWithRemedy(t *testing.T) {
	parent := testBase(t)
	base := filepath.Join(parent, "nocontrollers")
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	l, _ := ParseLimit("memory.max=64M")
	for name, fn := range map[string]func() error{
		"Setup": func() error {
			tree, _, err := Setup(Options{Mode: base, Limits: []Limit{l}})
			if tree != nil {
				tree.Close(context.Background())
			}
			return err
		},
		"Check": func() error { return Check(Options{Mode: base, Limits: []Limit{l}}) },
	} {
		err := fn()
		if err == nil {
			t.Errorf("%s: got no error, want the memory controller refused", name)
			continue
		}
		for _, part := range []string{"--cgroup-limit memory.max=64M", "memory controller is not enabled for " + base} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: got %q, want it to contain %q", name, err, part)
			}
		}
		if !strings.Contains(err.Error(), "Delegate=yes") && !strings.Contains(err.Error(), "cgroup v1") && !strings.Contains(err.Error(), "offers no memory") {
			t.Errorf("%s: got %q, want a remedy", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "fcgi-wrap."+strconv.Itoa(os.Getpid()))); !os.IsNotExist(err) {
		t.Errorf("a refused Setup left its instance behind: %v", err)
	}
}

// TestLimitsWrittenBeforeStart: where the pids controller exists, a
// request's pids.max is in force for the script's first fork.
func TestLimitsWrittenBeforeStart(t *testing.T) {
	base := testBase(t)
	needController(t, filepath.Dir(base), "pids")
	if err := enableIn(filepath.Dir(base), "pids"); err != nil {
		t.Skip("cannot enable pids here:", err)
	}
	l, _ := ParseLimit("pids.max=2")
	tree := setupIn(t, base, l)
	r := newRequestIn(t, tree)
	b, err := readAt(r.FD(), "pids.max")
	if err != nil || strings.TrimSpace(string(b)) != "2" {
		t.Errorf("pids.max: got %q, %v; want 2", b, err)
	}
}

// TestRemoveTakesNestedCgroups: a script that may write its own cgroup
// (it runs as fcgi-wrap's user) can make cgroups inside it; Remove takes
// them too instead of failing on the non-empty directory.
func TestRemoveTakesNestedCgroups(t *testing.T) {
	tree, _, err := Setup(Options{Mode: testBase(t), Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close(context.Background())
	r := mustNew(t, tree)
	if err := os.MkdirAll(filepath.Join(r.Path(), "mine", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	if err := r.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(r.Path()); !os.IsNotExist(err) {
		t.Errorf("request cgroup after Remove: got %v, want it gone", err)
	}
}

// newRequestIn makes a request cgroup in tree, removed when the test ends.
func newRequestIn(t *testing.T, tree *Tree) *Request {
	t.Helper()
	r := mustNew(t, tree)
	t.Cleanup(func() { r.Remove(context.Background()) })
	return r
}

// mustNew makes a request cgroup in tree, for a test that removes it
// itself.
func mustNew(t *testing.T, tree *Tree) *Request {
	t.Helper()
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
