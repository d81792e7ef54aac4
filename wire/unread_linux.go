package wire

import (
	"net"
	"syscall"
	"unsafe"
)

// nothingUnread reports whether the kernel holds no received bytes for nc
// that have not been read; false when it cannot tell.
func nothingUnread(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
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
