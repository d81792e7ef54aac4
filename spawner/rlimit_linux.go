package spawner

import (
	"fmt"
	"syscall"
	"unsafe"
)

// setRlimits applies limits to an already running process with prlimit(2).
//
// Go's os/exec has no hook that runs between fork and exec, so the limits
// cannot be set in the child before it execs. exec.Cmd.Start returns only
// once the exec has succeeded, so the program runs unlimited for the few
// microseconds between its exec and this call; anything it forks in that
// window keeps the old limits. That is acceptable for limits meant to stop
// runaway scripts, not for a security boundary against hostile ones.
func setRlimits(pid int, limits []Rlimit) error {
	for _, l := range limits {
		rl := syscall.Rlimit{Cur: l.Cur, Max: l.Max}
		_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(l.Resource),
			uintptr(unsafe.Pointer(&rl)), 0, 0, 0)
		if e != 0 {
			return fmt.Errorf("spawner: set %v on pid %d: %w", l, pid, e)
		}
	}
	return nil
}
