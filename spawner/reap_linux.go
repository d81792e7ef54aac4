package spawner

import (
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// waitid(2) numbers package syscall lacks.
const (
	pPidfd       = 3   // P_PIDFD
	cldExited    = 1   // CLD_EXITED
	cldKilled    = 2   // CLD_KILLED
	cldDumped    = 3   // CLD_DUMPED
	sysPidfdOpen = 434 // the same on every Linux architecture
)

// siginfoChild is the part of siginfo_t that waitid fills for a child, with
// the kernel's layout: the union after the three ints is pointer-aligned.
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
// Where the kernel has pidfds (Linux 5.4 on), the pidfd is non-blocking and
// sits in Go's netpoller: it turns readable when the child exits, so a
// running script costs a parked goroutine and nothing more. A blocking
// wait (what os/exec does) holds an OS thread per running script, and
// every exit then hands the scheduler's P between threads; on a 2-CPU
// machine that showed up as a tenth of the wrapper's time per tiny request.
type waiter struct {
	pidfd *os.File // nil: wait4 on pid
	pid   int
}

// wait returns how the child ended and the CPU time it used, with that of
// the children it reaped, which the kernel reports with the exit anyway.
func (w waiter) wait() (Exit, time.Duration) {
	var ru syscall.Rusage
	if w.pidfd == nil {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(w.pid, &ws, 0, &ru)
			if err == nil {
				return exitOf(ws), cpuTime(&ru)
			}
			if err != syscall.EINTR {
				return unknownExit, 0
			}
		}
	}
	defer w.pidfd.Close()
	rc, err := w.pidfd.SyscallConn()
	if err != nil {
		return unknownExit, 0
	}
	var si siginfoChild
	var werr syscall.Errno
	err = rc.Read(func(fd uintptr) bool {
		for {
			// The raw waitid takes a struct rusage as its fifth argument,
			// as wait4 does; glibc's wrapper hides it.
			_, _, werr = syscall.Syscall6(syscall.SYS_WAITID, pPidfd, fd, uintptr(unsafe.Pointer(&si)), syscall.WEXITED, uintptr(unsafe.Pointer(&ru)), 0)
			if werr != syscall.EINTR {
				// EAGAIN: not yet; wait until the pidfd is readable.
				return werr != syscall.EAGAIN
			}
		}
	})
	if err != nil || werr != 0 {
		return unknownExit, 0
	}
	return si.exit(), cpuTime(&ru)
}

func cpuTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidfdsWork reports whether this kernel gives out pidfds that waitid
// accepts, as os does before it relies on them.
var pidfdsWork = sync.OnceValue(func() bool {
	fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(syscall.Getpid()), 0, 0)
	if e != 0 {
		return false
	}
	defer syscall.Close(int(fd))
	var si siginfoChild
	_, _, e = syscall.Syscall6(syscall.SYS_WAITID, pPidfd, fd, uintptr(unsafe.Pointer(&si)), syscall.WEXITED|syscall.WNOHANG, 0, 0)
	return e == syscall.ECHILD // we are not our own parent
})

// forkExec starts path with stdio (and fd 3) from files, and returns the
// child's pid and a waiter for it. Errors are bare errnos.
func forkExec(path string, argv, env []string, dir string, files []uintptr, sys *syscall.SysProcAttr) (int, waiter, error) {
	pidfd := -1
	if pidfdsWork() {
		sys.PidFD = &pidfd
	}
	pid, _, err := syscall.StartProcess(path, argv, &syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: sys})
	if err != nil {
		return 0, waiter{}, err
	}
	if pidfd < 0 {
		return pid, waiter{pid: pid}, nil
	}
	// Should this fail, waitid on the pidfd blocks, like wait4: slower,
	// not wrong.
	_ = setFileFlags(pidfd, syscall.O_NONBLOCK)
	return pid, waiter{pid: pid, pidfd: os.NewFile(uintptr(pidfd), "pidfd")}, nil
}
