package wire

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// nothingUnread reports whether the kernel holds no received bytes for the
// connection rc is of; false when it cannot tell, or rc is nil.
func nothingUnread(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	n := -1
	if err := rc.Control(func(fd uintptr) { n = unread(int(fd)) }); err != nil {
		return false
	}
	return n == 0
}

// unread is how many received bytes socket fd holds that have not been
// read, or -1 when it cannot tell.
func unread(fd int) int {
	q, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return -1
	}
	return q
}
