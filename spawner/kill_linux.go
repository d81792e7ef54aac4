package spawner

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Kill ends the whole process group: SIGTERM now and, if anything in the
// group is still alive KillGrace later, SIGKILL. With a zero KillGrace it
// sends SIGKILL at once. It returns at once, is idempotent, and still works
// after the leader has exited (what is left of the group is killed).
// With a Config.Cgroup, the SIGKILL is sent to the whole cgroup as well:
// processes that left the group get no SIGTERM, but they die.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed || p.closed {
		return
	}
	p.killed = true
	if p.grace <= 0 {
		p.killAll()
		return
	}
	if !p.signalGroup(syscall.SIGTERM) {
		// Nothing is left in the group to be gentle with; whatever left
		// it is in the cgroup, and would get no SIGTERM anyway.
		p.killCgroup()
		return
	}
	p.wg.Add(1) // balanced by graceOver, or by whoever stops the timer
	p.timer = time.AfterFunc(p.grace, p.graceOver)
}

// graceOver sends the SIGKILL that Kill scheduled. Sending it straight away
// is the same as asking kill(-pgid, 0) first: a group with no members
// answers ESRCH either way.
func (p *Process) graceOver() {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if !p.closed {
		p.killAll()
	}
}

// KillNow sends SIGKILL to the whole group (and Config.Cgroup) now,
// cutting short a grace that Kill started.
func (p *Process) KillNow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.killed = true
	p.stopTimer()
	p.killAll()
}

// killAll sends SIGKILL to the group and the cgroup; p.mu is held.
func (p *Process) killAll() {
	p.signalGroup(syscall.SIGKILL)
	p.killCgroup()
}

// killCgroup kills everything in Config.Cgroup; p.mu is held. A failure
// (the caller removed the cgroup already) leaves nothing to kill.
func (p *Process) killCgroup() {
	if p.cgroup != nil {
		p.cgroup.Kill()
	}
}

// stopTimer cancels a pending SIGKILL; p.mu is held.
func (p *Process) stopTimer() {
	if p.timer != nil && p.timer.Stop() {
		p.wg.Done() // graceOver will not run
	}
	p.timer = nil
}

// signalGroup sends sig to the process group and reports whether the group
// still existed; p.mu is held.
//
// A process group id stays reserved while any member lives, even after the
// leader is reaped, so -pid names our group as long as kill finds anyone.
// Once it says ESRCH the id is free for the kernel to hand out again, and
// signalling it later could hit a stranger's group: we stop for good. (What
// cannot be told apart is a group that emptied and whose id was reused
// before our first signal after that; the kernel hands out pids cyclically,
// so that takes pid_max process creations in between, which is why callers
// should Close promptly once they are done.)
func (p *Process) signalGroup(sig syscall.Signal) bool {
	if p.groupGone {
		return false
	}
	if err := syscall.Kill(-p.pid, sig); errors.Is(err, syscall.ESRCH) {
		p.groupGone = true
		return false
	}
	return true
}

// Close releases the Process; the caller calls it last. If the leader is
// still running, or a SIGKILL is still pending after Kill, Close sends
// SIGKILL to the group (and cgroup) now, so nothing outlives it; it then
// waits for the leader to be reaped and for its own goroutines, and closes
// the pipe ends the caller has not closed. After Close no signal is ever sent to the
// group's id again. Calling Close again returns nil.
func (p *Process) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	select {
	case <-p.done:
		if p.timer != nil {
			p.stopTimer()
			p.killAll()
		}
	default:
		p.stopTimer()
		p.killAll()
	}
	p.closed = true
	p.mu.Unlock()

	if p.stopCtx() {
		p.wg.Done() // the AfterFunc will not run
	}
	p.startReaper() // the leader is reaped before Close returns
	var first error
	p.fileMu.Lock()
	stderr := p.stderr
	if p.stderrFd >= 0 {
		syscall.Close(p.stderrFd)
		p.stderrFd = -1
	}
	p.fileMu.Unlock()
	for _, f := range []*os.File{p.stdin, p.stdout, stderr, p.data} {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) && first == nil {
			first = err
		}
	}
	p.wg.Wait()
	return first
}
