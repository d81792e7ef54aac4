package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

const (
	// kernelTimerSlack is every thread's timer slack unless something
	// (systemd's TimerSlackNSec=, a parent's prctl) chose another.
	kernelTimerSlack = 50 * time.Microsecond
	// daemonTimerSlack is fcgi-wrap's own. Go's scheduler keeps a thread
	// (sysmon) that sleeps 20 µs at a time whenever any goroutine runs or
	// forks; on the 2-CPU machine of bench/ those wake-ups were a quarter
	// of fcgi-wrap's CPU per tiny request, and a 1 ms slack, which lets the
	// kernel fold them into far fewer, cut that CPU by a fifth and raised
	// tiny requests per second at concurrency 2 by about 4%. What it costs:
	// fcgi-wrap's own timers (timeouts, the 2 ms output coalescing) may
	// fire up to 1 ms late.
	daemonTimerSlack = time.Millisecond
	// scriptSlackEnv carries the slack fcgi-wrap started with across its
	// re-exec, for scripts to get back.
	scriptSlackEnv = "_FCGI_WRAP_SCRIPT_TIMER_SLACK"
)

// scriptTimerSlack is the timer slack scripts start with when fcgi-wrap
// raised its own (0: it did not, and they inherit fcgi-wrap's). Set once in
// main, before anything reads it.
var scriptTimerSlack time.Duration

// coarsenTimerSlack gives fcgi-wrap daemonTimerSlack if its slack is the
// kernel's default. A thread's slack passes only to the threads it creates
// later, and the Go runtime starts sysmon before main runs, so the process
// sets the slack on this thread and re-executes itself from it: every
// thread of the new image inherits it. It does nothing when the slack was
// chosen by someone else or cannot be set, and if the re-exec fails
// fcgi-wrap runs on as before, only with busier timers.
func coarsenTimerSlack() {
	if v, ok := os.LookupEnv(scriptSlackEnv); ok {
		// The second start: a slack of our own.
		os.Unsetenv(scriptSlackEnv)
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil && ns > 0 {
			scriptTimerSlack = time.Duration(ns)
		}
		return
	}
	if len(os.Args) > 1 && (os.Args[1] == "request" || os.Args[1] == "check") {
		return // one-shot commands start no scripts and keep no timers worth it
	}
	// The exec'ing thread becomes the new image's main thread, the one
	// whose slack every other thread inherits.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if spawner.TimerSlack() != kernelTimerSlack {
		return
	}
	if spawner.SetTimerSlack(daemonTimerSlack) != nil || spawner.TimerSlack() != daemonTimerSlack {
		spawner.SetTimerSlack(kernelTimerSlack)
		return
	}
	env := append(os.Environ(), scriptSlackEnv+"="+strconv.FormatInt(kernelTimerSlack.Nanoseconds(), 10))
	if self := ownPath(); self != "" {
		_ = syscall.Exec(self, os.Args, env) // returns only if it failed
	}
	spawner.SetTimerSlack(kernelTimerSlack)
}

// ownPath is the path this binary was started by, for the re-exec: the
// kernel names a process (ps, top, pgrep) after the file it was run as, so
// /proc/self/exe would rename it "exe" and a resolved symlink would give
// it the target's name. "" if neither argv[0] nor /proc/self/exe leads to
// this very binary.
func ownPath() string {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return ""
	}
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if fi, err := os.Stat(p); err == nil && os.SameFile(fi, self) {
			return p
		}
	}
	p, _ := os.Executable()
	return p
}
