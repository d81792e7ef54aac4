package gateway

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// spliceMin is the least output worth splicing: a streaming script's pipe
// holds more than this whenever the client keeps up, while a response that
// ends in a short read goes the usual way, with its chance to leave in one
// write with the end of the request (outputCoalesce).
const spliceMin = 64 << 10

// spliceAvailable sends what the script's stdout pipe holds straight to the
// client, if that is at least spliceMin and output flows: the bytes are
// moved from the pipe to the socket, never copied through our memory,
// where a read and a write copy each twice. It reports whether it sent
// anything; if not, the caller reads as usual (and waits there for more).
func (r *run) spliceAvailable(stdout *os.File) (sent bool, err error) {
	if r.resp.noSplice {
		return false, nil
	}
	rc, err := stdout.SyscallConn()
	if err != nil {
		return false, nil
	}
	fd, avail := -1, 0
	if rc.Control(func(p uintptr) {
		fd = int(p)
		avail, _ = unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD: bytes in the pipe
	}) != nil || avail < spliceMin {
		return false, nil
	}
	// fd stays valid: stdout is closed only after the output loop (Close).
	return r.resp.splice(fd, avail)
}

// splice moves n bytes from pipe to the client if output flows now; it
// reports false where it cannot (output held, or a connection splice
// cannot write to, which turns splicing off for good).
func (w *response) splice(pipe, n int) (bool, error) {
	w.mu.Lock()
	flowing := w.state == flowing
	w.mu.Unlock()
	if !flowing {
		return false, nil
	}
	_, err := w.out.SpliceFrom(pipe, n)
	if errors.Is(err, wire.ErrNotSpliceable) {
		w.noSplice = true
		return false, nil
	}
	if err != nil {
		w.failed(err)
		return false, err
	}
	return true, nil
}

// SpliceFrom is Write for bytes in a pipe (see wire.Output).
func (c *countingWriter) SpliceFrom(pipe, n int) (int, error) {
	m, err := c.w.SpliceFrom(pipe, n)
	c.n.Add(int64(m))
	return m, err
}
