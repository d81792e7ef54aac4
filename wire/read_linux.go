package wire

import (
	"io"
	"os"
	"syscall"
)

// rawRead is readIdle's callback for syscall.RawConn.Read: it reads what
// has arrived into a fresh buffer, or gives the buffer back and reports
// false, to be called again once there is input. Reading the header alone
// first, to wait without a buffer, took a read more per request: what a
// web server sends at once now takes one.
func (c *conn) rawRead(fd uintptr) bool {
	c.in.get()
	buf := *c.in.b
	if c.readMax > 0 {
		buf = buf[:c.readMax]
	}
	for {
		n, err := syscall.Read(int(fd), buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.in.release()
			return false
		case err != nil:
			c.rawErr = os.NewSyscallError("read", err)
		case n == 0:
			c.rawErr = io.EOF
		}
		if c.rawErr != nil {
			c.in.release()
		} else {
			c.in.w = n
		}
		return true
	}
}
