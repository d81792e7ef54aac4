package wire

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// writePipe writes b whole to the pipe. Waiting while the pipe is full
// is a stall, which the hang-up watcher covers.
func (c *conn) writePipe(rc syscall.RawConn, b []byte) error {
	var werr error
	write := func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := syscall.Write(int(fd), b)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				werr = os.NewSyscallError("write", err)
				return true
			}
			b = b[n:]
		}
		return true
	}
	done := false
	if err := rc.Control(func(fd uintptr) { done = write(fd) }); err != nil {
		return errPipeClosed
	}
	if !done {
		defer c.stall()()
		if err := rc.Write(write); err != nil {
			return errPipeClosed
		}
	}
	return werr
}

// errPipeClosed is a sink's error once its pipe is closed: the only way
// its RawConn fails, as no deadline is ever set on it.
var errPipeClosed = fmt.Errorf("wire: splicing into a closed pipe: %w", os.ErrClosed)

// spliceIn is a connection's state for splicing STDIN: the record being
// moved, and spliceSocket's callbacks.
type spliceIn struct {
	splicing
	fromSocketFn, intoPipeFn func(uintptr) bool
}

// spliceWait is the end of a splice that holds it up.
type spliceWait int

const (
	waitSocket spliceWait = iota // the socket has nothing for now
	waitPipe                     // the pipe is full
	waitNever                    // splice refuses input the socket holds: copy it
)

// splicing is one record's move from the socket to the pipe.
type splicing struct {
	pipe    syscall.RawConn
	left    int        // bytes still to move
	wait    spliceWait // where the last attempt was held up
	pipeErr error      // the pipe failed: the script is gone, or it was closed
	connErr error      // the connection failed
}

// spliceSocket moves n bytes from the socket to the pipe. It waits on
// whichever end holds it up: on the socket with the read loop's deadline,
// on the pipe as a stall, which the hang-up watcher covers. Each wait is
// inside the waited end's RawConn, and the other end is used only through
// Control, so closing either wakes it.
func (c *conn) spliceSocket(pipe syscall.RawConn, n int) (moved int, pipeErr, connErr error) {
	var unstall func()
	defer func() {
		if unstall != nil {
			unstall()
		}
	}()
	if c.spliceIn == nil {
		// The callbacks are bound once: closures made per record would
		// allocate per record.
		c.spliceIn = &spliceIn{}
		c.spliceIn.fromSocketFn, c.spliceIn.intoPipeFn = c.spliceFromSocket, c.spliceIntoPipe
	}
	sp := &c.spliceIn.splicing
	*sp = splicing{pipe: pipe, left: n}
	defer func() { sp.pipe = nil }()
	for !sp.done() {
		switch sp.wait {
		case waitNever:
			c.copyIntoPipe(sp)
		case waitPipe:
			if unstall == nil {
				unstall = c.stall()
			}
			if err := pipe.Write(c.spliceIn.intoPipeFn); err != nil {
				sp.pipeErr = errPipeClosed
			}
		default:
			c.armDeadline()
			if err := c.raw.Read(c.spliceIn.fromSocketFn); err != nil {
				sp.connErr = err
			}
		}
	}
	return n - sp.left, sp.pipeErr, sp.connErr
}

// spliceFromSocket is spliceSocket's callback while it waits on the socket.
func (c *conn) spliceFromSocket(sock uintptr) bool {
	sp := &c.spliceIn.splicing
	if err := sp.pipe.Control(func(p uintptr) { sp.attempt(int(sock), int(p)) }); err != nil {
		sp.pipeErr = errPipeClosed
	}
	return sp.wait != waitSocket || sp.done()
}

// spliceIntoPipe is spliceSocket's callback while it waits on the pipe.
func (c *conn) spliceIntoPipe(p uintptr) bool {
	sp := &c.spliceIn.splicing
	if err := c.raw.Control(func(sock uintptr) { sp.attempt(int(sock), int(p)) }); err != nil {
		sp.connErr = err
	}
	return sp.wait != waitPipe || sp.done()
}

func (sp *splicing) done() bool {
	return sp.left == 0 || sp.pipeErr != nil || sp.connErr != nil
}

// attempt splices until the record has moved or an end holds it up.
func (sp *splicing) attempt(sock, pipe int) {
	sp.wait = waitSocket
	for retries := 0; sp.left > 0; {
		m, err := unix.Splice(sock, nil, pipe, nil, sp.left, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// Either end may have said so. The pipe is asked directly:
			// what the socket holds can have changed since the splice,
			// and waiting on a pipe that is not full would wait forever.
			switch {
			case pipeFull(pipe):
				sp.wait = waitPipe
			case socketHolds(sock) && retries < maxSpliceRetries:
				retries++
				continue // input came in just after the splice looked
			case socketHolds(sock):
				sp.wait = waitNever
			}
			return
		case err == unix.EPIPE:
			sp.pipeErr = os.NewSyscallError("splice", err)
			return
		case err != nil:
			sp.connErr = os.NewSyscallError("splice", err)
			return
		case m == 0:
			sp.connErr = io.ErrUnexpectedEOF
			return
		}
		sp.left -= int(m)
	}
}

// copyIntoPipe moves the rest of a record by read and write: a splice
// can fail again and again while the socket holds input and the pipe has
// room (a reader freeing slots at each look, or input that splice does
// not take), and neither end would then wake a wait.
func (c *conn) copyIntoPipe(sp *splicing) {
	// The record's content runs past what was buffered, so the buffer
	// holds nothing unhandled.
	in := &c.in
	in.r, in.w = 0, 0
	for !sp.done() {
		c.armDeadline()
		m, err := c.rwc.Read((*in.b)[:min(sp.left, len(*in.b))])
		if m > 0 {
			sp.left -= m
			if perr := c.writePipe(sp.pipe, (*in.b)[:m]); perr != nil {
				sp.pipeErr = perr
			}
		}
		switch {
		case err == io.EOF:
			sp.connErr = io.ErrUnexpectedEOF
		case err != nil:
			sp.connErr = err
		}
	}
}

// maxSpliceRetries bounds the splices retried at once when the socket
// holds input and the pipe has room, before the record is copied instead.
const maxSpliceRetries = 4

// pipeFull reports whether a pipe's write end would block, as a splice
// into it does when every slot is taken, however few bytes they hold.
func pipeFull(pipe int) bool {
	fds := []unix.PollFd{{Fd: int32(pipe), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// socketHolds reports whether input waits in the socket.
func socketHolds(sock int) bool { return unread(sock) > 0 }
