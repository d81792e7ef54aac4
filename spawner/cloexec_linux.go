package spawner

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

var (
	noCloseRange atomic.Bool // the kernel lacks close_range CLOEXEC (before 5.11)
	procWalk     sync.Once
)

// sealInherited marks every descriptor from 3 up close-on-exec in our own
// process before a start.
//
// Go opens all its files close-on-exec, but descriptors inherited from
// whoever started us (a web server, a shell, a supervisor) are not, and
// without this every CGI script would receive them: a leak of sockets and
// files, and of the knowledge that they exist. Marking them changes nothing
// for us; a child that should get one receives it through dup2, which
// ignores the flag. close_range sets a bit range in the fd table, so doing
// it on every start is cheap and also catches descriptors created since by
// raw system calls. On older kernels /proc/self/fd is walked once.
func sealInherited() {
	if !noCloseRange.Load() {
		if unix.CloseRange(3, uint(^uint32(0)), unix.CLOSE_RANGE_CLOEXEC) == nil {
			return
		}
		noCloseRange.Store(true)
	}
	procWalk.Do(func() {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return
		}
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	})
}
