package cgroup

import (
	"context"
	"fmt"
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
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Remove(context.Background())
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
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Remove(context.Background())
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
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
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

// TestNothingAccumulates: after many requests, with and without leftover
// processes, no more request cgroups are left than ran at once (one, here:
// the one kept for reuse), or none when each is made afresh; and the
// kernel has let go of every removed cgroup.
func TestNothingAccumulates(t *testing.T) {
	n, withProcs := 10000, 100
	if testing.Short() {
		n, withProcs = 1000, 20
	}
	for _, fresh := range []bool{false, true} {
		t.Run(fmt.Sprintf("fresh=%v", fresh), func(t *testing.T) {
			base := testBase(t)
			tree, _, err := Setup(Options{Mode: base, Fresh: fresh})
			if err != nil {
				t.Fatal(err)
			}
			defer tree.Close(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
			defer cancel()
			for i := range n {
				r, err := tree.New()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if i < withProcs {
					cmd, _ := startIn(t, r, escape)
					cmd.Wait()
				}
				if err := r.Remove(ctx); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			want := 1
			if fresh {
				want = 0
			}
			if ents, _ := os.ReadDir(tree.Scripts()); countDirs(ents) != want {
				t.Errorf("scripts directory: got %d cgroups left, want %d", countDirs(ents), want)
			}
			testutil.WaitFor(t, "no dying cgroups under the instance", func() bool {
				b, _ := os.ReadFile(filepath.Join(tree.Scripts(), "cgroup.stat"))
				live, _ := field(b, "nr_descendants")
				dying, _ := field(b, "nr_dying_descendants")
				return live == int64(want) && dying == 0
			})
		})
	}
}

// TestReuseOnlyEmptyCgroups: an empty request cgroup is reused, and counts
// only the CPU of its new request; one that still holds a process (a
// setsid'd leftover) is killed and removed, never reused.
func TestReuseOnlyEmptyCgroups(t *testing.T) {
	tree := setupIn(t, testBase(t))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	r1, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := startIn(t, r1, `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done`)
	cmd.Wait()
	if u := r1.Usage(); u.CPU < 10*time.Millisecond {
		t.Fatalf("first request: got %v of CPU, want the loop's", u.CPU)
	}
	r1.Remove(ctx)
	r2, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	if r2.Path() != r1.Path() {
		t.Fatalf("second request got %s, want the kept %s", r2.Path(), r1.Path())
	}
	if u := r2.Usage(); u.CPU != 0 {
		t.Errorf("reused cgroup before its script: got %v of CPU, want 0", u.CPU)
	}
	_, out := startIn(t, r2, escape)
	left := readPid(t, out)
	if err := r2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r2.Path()); !os.IsNotExist(err) {
		t.Errorf("a cgroup with a leftover after Remove: got %v, want it removed", err)
	}
	testutil.WaitFor(t, "the leftover to die", func() bool { return !alive(left) })
	r3, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Remove(ctx)
	if r3.Path() == r2.Path() {
		t.Errorf("the cgroup that held a leftover was reused")
	}
}

func countDirs(ents []os.DirEntry) int {
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
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
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Remove(context.Background())
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
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
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

// TestKilledCgroupNotReused: a cgroup that cgroup.kill was written to is
// removed, not kept, even once it is empty: on Linux 6.x every process
// later started into it with clone3 is killed at birth, which made every
// request after one with a leftover fail with a 502.
func TestKilledCgroupNotReused(t *testing.T) {
	tree := setupIn(t, testBase(t))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	r1, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := startIn(t, r1, "exec sleep 600")
	if err := r1.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	testutil.WaitFor(t, "the cgroup to empty", func() bool { return !populated(r1.Path()) })
	r1.Remove(ctx)
	r2, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Remove(ctx)
	if r2.Path() == r1.Path() {
		t.Fatalf("the killed cgroup %s was reused", r1.Path())
	}
	if cmd, _ := startIn(t, r2, "exit 7"); cmd.Wait() == nil || cmd.ProcessState.ExitCode() != 7 {
		t.Errorf("a script in the next request's cgroup: got %v, want exit status 7", cmd.ProcessState)
	}
}

// TestSettledRequestReadsEachFileOnce: a request whose script left nothing
// reads cgroup.events once (the kill check) and cpu.stat once (its usage),
// and once its cgroup is reused, opens neither again; the reused cgroup
// still counts only its new request's CPU.
func TestSettledRequestReadsEachFileOnce(t *testing.T) {
	tree := setupIn(t, testBase(t))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	reads := map[string]int{}
	opens := 0
	testHookControlRead = func(name string, open bool) {
		reads[name]++
		if open {
			opens++
		}
	}
	defer func() { testHookControlRead = nil }()
	var first string
	for i := range 2 {
		r, err := tree.New()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.Path()
		} else if r.Path() != first {
			t.Fatalf("second request got %s, want the kept %s", r.Path(), first)
		}
		clear(reads)
		opens = 0
		cmd, _ := startIn(t, r, `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done`)
		cmd.Wait()
		if err := r.Kill(); err != nil {
			t.Fatal(err)
		}
		if u := r.Usage(); u.CPU <= 0 {
			t.Errorf("request %d: got %v of CPU, want the loop's", i, u.CPU)
		}
		if err := r.Remove(ctx); err != nil {
			t.Fatal(err)
		}
		if reads["cgroup.events"] != 1 || reads["cpu.stat"] != 1 {
			t.Errorf("request %d: read %v, want cgroup.events and cpu.stat once each", i, reads)
		}
		if i == 1 && opens != 0 {
			t.Errorf("reused cgroup: opened %d control files, want 0 (kept open)", opens)
		}
	}
}
