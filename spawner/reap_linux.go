package spawner

import (
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// si_code values of a child's siginfo (CLD_* in signal.h), which neither
// syscall nor x/sys/unix names.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// siginfoChild is the part of siginfo_t that waitid fills for a child, with
// the kernel's layout: the union after the three ints is pointer-aligned.
// unix.Siginfo has the same size but keeps the child's fields opaque.
type siginfoChild struct {
	Signo, Errno, Code int32
	_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
	Pid                int32
	Uid                uint32
	Status             int32
	_                  [128 - 3*4 - (unsafe.Sizeof(uintptr(0)) - 4) - 3*4]byte
}

func (si *siginfoChild) exit() Exit {
	switch si.Code {
	case cldExited:
		return Exit{Code: int(si.Status)}
	case cldKilled:
		return Exit{Code: -1, Signal: syscall.Signal(si.Status)}
	case cldDumped:
		return Exit{Code: -1, Signal: syscall.Signal(si.Status), CoreDumped: true}
	}
	return unknownExit
}

// A waiter reaps one child, once.
//
// Most scripts have exited by the time their stdout ends, so the caller
// first tries to reap without waiting (tryReap): one waitid, where a pidfd
// made at clone time and parked in the netpoller costs six more system
// calls and a goroutine per request. Only a child still running when
// someone must wait for it gets a reaper (wait): a pidfd opened then
// (pidfd_open; the pid cannot be reused while the child is unreaped), put
// non-blocking in Go's netpoller, so that a running script costs a parked
// goroutine and nothing more. A blocking wait (what os/exec does) would
// hold an OS thread per running script, and every exit would hand the
// scheduler's P between threads; on a 2-CPU machine that showed up as a
// tenth of the wrapper's time per tiny request.
type waiter struct {
	pid int
}

// tryReap reaps the child if it has exited, without waiting.
func (w waiter) tryReap() (exit Exit, cpu time.Duration, reaped bool) {
	var si siginfoChild
	var ru syscall.Rusage
	switch e := waitid(unix.P_PID, uintptr(w.pid), &si, syscall.WEXITED|syscall.WNOHANG, &ru); {
	case e != 0:
		// ECHILD: someone else reaped it; there is nothing to learn.
		return unknownExit, 0, true
	case si.Pid == 0:
		return Exit{}, 0, false
	}
	return si.exit(), cpuTime(&ru), true
}

// waitid is waitid(2) with a struct rusage (nil for none) as its fifth
// argument, as wait4 has, retried when a signal interrupts it.
func waitid(idtype int, id uintptr, si *siginfoChild, options int, ru *syscall.Rusage) syscall.Errno {
	for {
		err := unix.Waitid(idtype, int(id), (*unix.Siginfo)(unsafe.Pointer(si)), options, (*unix.Rusage)(unsafe.Pointer(ru)))
		if err != unix.EINTR {
			e, _ := err.(syscall.Errno)
			return e
		}
	}
}

// wait returns how the child ended and the CPU time it used, with that of
// the children it reaped, which the kernel reports with the exit anyway.
func (w waiter) wait() (Exit, time.Duration) {
	var ru syscall.Rusage
	pidfd := -1
	if pidfdsWork() {
		pidfd = openPidfd(w.pid)
	}
	if pidfd < 0 {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(w.pid, &ws, 0, &ru)
			if err == nil {
				return ExitOf(ws), cpuTime(&ru)
			}
			if err != syscall.EINTR {
				return unknownExit, 0
			}
		}
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return unknownExit, 0
	}
	var si siginfoChild
	var werr syscall.Errno
	err = rc.Read(func(fd uintptr) bool {
		werr = waitid(unix.P_PIDFD, fd, &si, syscall.WEXITED, &ru)
		// EAGAIN: not yet; wait until the pidfd is readable.
		return werr != syscall.EAGAIN
	})
	if err != nil || werr != 0 {
		return unknownExit, 0
	}
	return si.exit(), cpuTime(&ru)
}

// openPidfd opens a non-blocking pidfd for pid, which the netpoller can
// park on, or returns -1. Kernels before 5.10 refuse PIDFD_NONBLOCK; there
// the flag is set afterwards.
func openPidfd(pid int) int {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == unix.EINVAL {
		if fd, err = unix.PidfdOpen(pid, 0); err == nil {
			_ = setFileFlags(fd, unix.O_NONBLOCK)
		}
	}
	if err != nil {
		return -1
	}
	return fd
}

func cpuTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidfdsWork reports whether this kernel gives out pidfds that waitid
// accepts, as os does before it relies on them.
var pidfdsWork = sync.OnceValue(func() bool {
	fd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var si siginfoChild
	return waitid(unix.P_PIDFD, uintptr(fd), &si, syscall.WEXITED|syscall.WNOHANG, nil) == syscall.ECHILD // we are not our own parent
})

// forkExec starts path with stdio (and fd 3) from files, and returns the
// child's pid and a waiter for it. Errors are bare errnos.
func forkExec(path string, argv, env []string, dir string, files []uintptr, sys *syscall.SysProcAttr) (int, waiter, error) {
	pid, _, err := syscall.StartProcess(path, argv, &syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: sys})
	if err != nil {
		return 0, waiter{}, err
	}
	return pid, waiter{pid: pid}, nil
}
