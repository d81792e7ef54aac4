package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
)

// Conditions and commands for the contain_* and runas_* scripts.
func init() {
	extraConds["cgroup"] = condCgroup
	extraConds["cgctl"] = condController
	extraCmds["cgdir"] = cmdCgDir
	extraCmds["cgown"] = cmdCgOwn
	extraCmds["cgempty"] = cmdCgEmpty
	extraCmds["cgremove"] = cmdCgRemove
	extraCmds["findprocs"] = cmdFindProcs
	extraCmds["tmpuser"] = cmdTmpUser
}

// condCgroup is [cgroup]: root, and a writable cgroup2 whose cgroups have
// cgroup.kill (Linux 5.14), as --cgroup needs.
func condCgroup(string) (bool, error) {
	own, err := cgroup.OwnDir()
	if os.Geteuid() != 0 || err != nil {
		return false, nil
	}
	probe := filepath.Join(own, fmt.Sprintf("fcgi-wrap-probe.%d.%d", os.Getpid(), cgSeq.Add(1)))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return false, nil
	}
	defer os.Remove(probe)
	_, err = os.Stat(filepath.Join(probe, "cgroup.kill"))
	return err == nil, nil
}

// condController is [cgctl:NAME]: [cgroup], and controller NAME can be
// given to the scripts' cgroups: we run in the root of the cgroup2 tree
// (a cgroup of our own would hold this test's processes, which cgroup v2
// forbids to a cgroup that shares controllers) and the kernel offers NAME
// to cgroup v2 there (on a hybrid host, not if a v1 hierarchy holds it).
func condController(name string) (bool, error) {
	if ok, _ := condCgroup(""); !ok || name == "" {
		return false, nil
	}
	own, _ := cgroup.OwnDir()
	if _, err := os.Stat(filepath.Join(own, "cgroup.type")); err == nil {
		return false, nil // only non-root cgroups have a type
	}
	b, err := os.ReadFile(filepath.Join(own, "cgroup.controllers"))
	return err == nil && slices.Contains(strings.Fields(string(b)), name), nil
}

var cgSeq atomic.Int64

// cgdir [-bare] VAR [CONTROLLER...]: make a fresh cgroup directory for
// --cgroup DIR under our own cgroup, with the controllers enabled above it,
// and set VAR to it; it is killed and removed when the script ends. -bare
// gives a directory that can have no controller at all.
func cmdCgDir(ts *testscript.TestScript, neg bool, args []string) {
	bare := len(args) > 0 && args[0] == "-bare"
	if bare {
		args = args[1:]
	}
	if len(args) < 1 || neg {
		ts.Fatalf("usage: cgdir [-bare] VAR [CONTROLLER...]")
	}
	own, err := cgroup.OwnDir()
	ts.Check(err)
	for _, c := range args[1:] {
		ts.Check(os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("+"+c), 0))
	}
	dir := filepath.Join(own, fmt.Sprintf("fcgi-wrap-test.%d.%d", os.Getpid(), cgSeq.Add(1)))
	ts.Check(os.Mkdir(dir, 0o755))
	ts.Defer(func() {
		if err := removeCgroups(dir); err != nil {
			ts.Logf("removing %s: %v", dir, err)
		}
	})
	if bare {
		ts.Check(os.Mkdir(filepath.Join(dir, "bare"), 0o755))
		ts.Setenv(args[0], filepath.Join(dir, "bare"))
		return
	}
	ts.Setenv(args[0], dir)
}

// removeCgroups kills everything in dir and removes it and what is under
// it, deepest first.
func removeCgroups(dir string) error {
	os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroups(filepath.Join(dir, e.Name()))
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || os.IsNotExist(err) || !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cgown VAR: set VAR to the directory --cgroup auto works under.
func cmdCgOwn(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: cgown VAR")
	}
	own, err := cgroup.OwnDir()
	ts.Check(err)
	ts.Setenv(args[0], own)
}

// cgremove DIR: kill what is in the cgroup DIR and remove it with what
// is under it.
func cmdCgRemove(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: cgremove DIR")
	}
	ts.Check(removeCgroups(args[0]))
}

// cgempty DIR: wait until the cgroup DIR has no child cgroup left.
func cmdCgEmpty(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: cgempty DIR")
	}
	var left []string
	waitFor(ts, args[0]+" to hold no cgroup", func() bool {
		ents, err := os.ReadDir(args[0])
		ts.Check(err)
		left = left[:0]
		for _, e := range ents {
			if e.IsDir() {
				left = append(left, e.Name())
			}
		}
		return len(left) == 0
	})
}

// findprocs SUBSTRING FILE: wait for processes whose command line holds
// SUBSTRING (other than this test's own) and write their pids to FILE.
// ! findprocs SUBSTRING: wait until there is none.
func cmdFindProcs(ts *testscript.TestScript, neg bool, args []string) {
	if (neg && len(args) != 1) || (!neg && len(args) != 2) {
		ts.Fatalf("usage: findprocs SUBSTRING FILE | ! findprocs SUBSTRING")
	}
	var pids []string
	waitFor(ts, "processes running "+args[0], func() bool {
		pids = pids[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() || !alive(pid) {
				continue
			}
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if strings.Contains(string(cmdline), args[0]) {
				pids = append(pids, e.Name())
			}
		}
		return (len(pids) > 0) != neg
	})
	if !neg {
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(pids, " ")+"\n"), 0o644))
	}
}

// tmpuser VAR [-g GID] [-G]: add a user for this script (useradd), with
// a group of its own unless -g names its primary group, and with -G also
// a supplementary group; it is removed when the script ends. Sets VAR to
// its name, VAR_UID, VAR_GID and, with -G, VAR_SUPP to their ids.
func cmdTmpUser(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || neg {
		ts.Fatalf("usage: tmpuser VAR [-g GID] [-G]")
	}
	name := fmt.Sprintf("fwt%06d", rand.IntN(1e6))
	useradd := []string{"-M", "-s", "/bin/sh"}
	supp := ""
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == "-g" && i+1 < len(args):
			useradd = append(useradd, "-N", "-g", args[i+1])
			i++
		case args[i] == "-G":
			supp = name + "s"
			runTool(ts, "groupadd", supp)
			ts.Defer(func() { exec.Command("groupdel", supp).Run() })
			useradd = append(useradd, "-G", supp)
		default:
			ts.Fatalf("tmpuser: unknown option %q", args[i])
		}
	}
	if !slices.Contains(useradd, "-g") {
		useradd = append(useradd, "-U")
	}
	runTool(ts, "useradd", append(useradd, name)...)
	ts.Defer(func() {
		// -f: a script of the user's may still be running when a failed
		// script ends, and userdel refuses a user with processes.
		if out, err := exec.Command("userdel", "-f", name).CombinedOutput(); err != nil {
			ts.Logf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	ts.Check(err)
	ts.Setenv(args[0], name)
	ts.Setenv(args[0]+"_UID", u.Uid)
	ts.Setenv(args[0]+"_GID", u.Gid)
	if supp != "" {
		g, err := user.LookupGroup(supp)
		ts.Check(err)
		ts.Setenv(args[0]+"_SUPP", g.Gid)
	}
}

func runTool(ts *testscript.TestScript, name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		ts.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
