package wire

import (
	"syscall"
	"unsafe"
)

// nothingUnread reports whether the kernel holds no received bytes for the
// connection rc is of; false when it cannot tell, or rc is nil.
func nothingUnread(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	n := int32(-1)
	if err := rc.Control(func(fd uintptr) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
			n = -1
		}
	}); err != nil {
		return false
	}
	return n == 0
}
