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
	if err := rc.Control(func(fd uintptr) {
		if q, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil {
			n = q
		}
	}); err != nil {
		return false
	}
	return n == 0
}
