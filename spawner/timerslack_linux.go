package spawner

import (
	"runtime"
	"syscall"
	"time"
)

// prctl(2) options package syscall lacks.
const (
	prSetTimerSlack = 29 // PR_SET_TIMERSLACK
	prGetTimerSlack = 30 // PR_GET_TIMERSLACK
)

// TimerSlack is the calling thread's timer slack: how much later than
// asked the kernel may end its sleeps, to serve several with one wake-up.
// A new thread or process inherits the slack of the thread that creates
// it, and keeps it across exec. Callers lock their goroutine to its thread
// (runtime.LockOSThread) for the answer to mean anything.
func TimerSlack() time.Duration {
	ns, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	return time.Duration(ns)
}

// SetTimerSlack sets the calling thread's timer slack; see TimerSlack.
func SetTimerSlack(d time.Duration) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(d.Nanoseconds()), 0); e != 0 {
		return e
	}
	return nil
}

// forkExecSlack is forkExec for a child that must start with its own timer
// slack (Config.TimerSlack). A child can only inherit a slack, so the
// forking thread wears the child's for the length of the fork.
func forkExecSlack(slack time.Duration, path string, argv, env []string, dir string, files []uintptr, sys *syscall.SysProcAttr) (int, waiter, error) {
	if slack > 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if own := TimerSlack(); own != slack && SetTimerSlack(slack) == nil {
			defer SetTimerSlack(own)
		}
	}
	return forkExec(path, argv, env, dir, files, sys)
}
