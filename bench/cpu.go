package main

// A daemon's CPU time, from the scheduler's own accounting.
//
// utime and stime in /proc/PID/stat count clock ticks (10 ms) charged to
// whichever thread was running when the tick came, so a process that runs
// in bursts shorter than a tick reads as having used none: fcgiwrap's
// eight workers, each busy for a fraction of a millisecond per request,
// summed to near zero. The first field of /proc/PID/task/TID/schedstat is
// the thread's time on a CPU in nanoseconds, updated at every switch.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// procRoot is where the kernel's process tree is mounted; tests point
// the readers below at a fake one.
const procRoot = "/proc"

// cpuSample is the CPU time every thread of a daemon's processes had used
// at one moment, by thread id. Thread ids are unique on the machine while
// the thread lives, which is what lets two samples be matched thread by
// thread.
type cpuSample map[int]time.Duration

// since is the CPU time used between before and s. It is taken thread by
// thread rather than as a difference of totals: a thread that ended in
// between then loses only what it used in between, not its whole life.
// A thread whose time went backwards is one that reused an ended thread's
// id, and counts from zero.
func (s cpuSample) since(before cpuSample) time.Duration {
	var d time.Duration
	for tid, t := range s {
		if b, ok := before[tid]; ok && b <= t {
			t -= b
		}
		d += t
	}
	return d
}

var errSchedstat = errors.New("bench: schedstat without a run time")

// parseSchedstat reads a thread's schedstat line, "RUN WAIT SLICES": the
// nanoseconds it ran on a CPU, waited on a run queue, and its number of
// time slices (Documentation/scheduler/sched-stats.rst). Only the first
// is the thread's own CPU time.
func parseSchedstat(b []byte) (time.Duration, error) {
	f := bytes.Fields(b)
	if len(f) != 3 {
		return 0, errSchedstat
	}
	ns, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || ns < 0 {
		return 0, errSchedstat
	}
	return time.Duration(ns), nil
}

// readCPU samples every thread of the processes pids under root. A
// process or thread that ended meanwhile is left out: what it used until
// then is lost, which since bounds to the interval measured.
func readCPU(root string, pids []int) cpuSample {
	s := make(cpuSample)
	for _, pid := range pids {
		tasks, _ := filepath.Glob(filepath.Join(root, strconv.Itoa(pid), "task", "[0-9]*", "schedstat"))
		for _, path := range tasks {
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			t, err := parseSchedstat(b)
			if err != nil {
				continue
			}
			tid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			s[tid] = t
		}
	}
	return s
}

// family is the daemon pid and those of its children whose command name
// is one of comms: its helpers, as against the scripts it runs, which
// run other programs. Each process's entry under root is read once, so a
// process that exits meanwhile is simply not found.
func family(root string, pid int, comms []string) []int {
	stats, _ := filepath.Glob(filepath.Join(root, "[0-9]*", "stat"))
	var pids []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		p, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		st, ok := parseStat(b)
		if ok && (p == pid || (st.ppid == pid && slices.Contains(comms, st.comm))) {
			pids = append(pids, p)
		}
	}
	return pids
}

// daemonCPU samples every thread of srv and its helpers.
func daemonCPU(srv *server) cpuSample {
	return readCPU(procRoot, family(procRoot, srv.proc.pid(), srv.comms))
}

// withCPU runs fn and records in its result the CPU time srv's own
// processes used meanwhile: unlike a rate on a shared machine, it hardly
// depends on what the neighbours do.
func withCPU(srv *server, fn func() loadResult) loadResult {
	before := daemonCPU(srv)
	r := fn()
	r.cpu = daemonCPU(srv).since(before)
	return r
}
