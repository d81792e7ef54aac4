package wire

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipeSink is a pipe that SpliceTo attached to a STDIN stream. The read
// loop claims it for one record at a time and moves the record's content
// into it: what it had read already by a write, the rest straight from
// the socket by splice(2), so an upload's bytes are never copied through
// our memory.
type pipeSink struct {
	stream   *inStream
	pipe     *os.File
	rc       syscall.RawConn // the pipe's
	left     int64           // what it may still take; guarded by inStream.mu
	ready    bool            // what was queued before it has gone into the pipe; guarded by inStream.mu
	moved    atomic.Int64
	err      error         // why it was let go; set before done closes
	progress chan struct{} // cap 1: a record went in
	readyCh  chan struct{} // closed when ready is set
	done     chan struct{} // closed once it is detached
}

// SpliceTo implements Input.
func (s *inStream) SpliceTo(pipe *os.File, max int64, progress func()) (int64, error) {
	if !s.spliceable {
		return 0, ErrNotSpliceable
	}
	if max <= 0 || !s.mayAttach() {
		return 0, nil
	}
	rc, err := pipe.SyscallConn()
	if err != nil {
		return 0, ErrNotSpliceable
	}
	sink := &pipeSink{stream: s, pipe: pipe, rc: rc, left: max,
		progress: make(chan struct{}, 1), readyCh: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if !s.mayAttachLocked() {
		s.mu.Unlock()
		return 0, nil
	}
	s.sink = sink
	s.mu.Unlock()
	if progress == nil {
		progress = func() {}
	}
	s.drainInto(sink, progress)
	for {
		select {
		case <-sink.progress:
			progress()
		case <-sink.done:
			return sink.moved.Load(), sink.err
		case <-s.ctx.Done():
			// The read loop may be inside a record still: it lets go
			// when the caller closes the pipe, dropping the rest.
			s.mu.Lock()
			s.detachLocked(sink, nil)
			s.mu.Unlock()
			return sink.moved.Load(), context.Cause(s.ctx)
		}
	}
}

// drainInto writes what is queued into the newly attached sink, then
// makes it ready. Meanwhile the read loop queues no more for the stream
// (claim waits for ready): a client faster than the script would
// otherwise keep the queue from ever emptying. Queued data that would
// take the sink past its max is left for Read: the sink is let go.
func (s *inStream) drainInto(sink *pipeSink, progress func()) {
	for {
		s.mu.Lock()
		switch {
		case s.sink != sink:
			s.mu.Unlock()
			return
		case s.queued == 0:
			sink.ready = true
			close(sink.readyCh)
			s.mu.Unlock()
			return
		case int64(s.queued) > sink.left:
			s.detachLocked(sink, nil)
			s.mu.Unlock()
			return
		}
		chunks, n := s.chunks, s.queued
		s.chunks, s.queued = nil, 0
		sink.left -= int64(n)
		s.mu.Unlock()
		signal(s.writable)
		var err error
		for _, c := range chunks {
			if err == nil {
				_, err = sink.pipe.Write(c.data)
			}
			chunkBufs.Put(c.buf)
		}
		if err != nil {
			s.mu.Lock()
			s.detachLocked(sink, err)
			s.mu.Unlock()
			return
		}
		sink.moved.Add(int64(n))
		progress()
	}
}

func (s *inStream) mayAttach() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mayAttachLocked()
}

// mayAttachLocked reports whether more of the stream is to come from the
// connection, and no sink takes it yet.
func (s *inStream) mayAttachLocked() bool {
	return s.sink == nil && !s.eof && !s.gone && s.ctx.Err() == nil
}

// detachLocked lets go of sink, if it is still attached, with why.
func (s *inStream) detachLocked(sink *pipeSink, why error) {
	if s.sink != sink {
		return
	}
	s.sink = nil
	sink.err = why
	close(sink.done)
}

// claim is the read loop's: the sink that takes a record of n content
// bytes, or nil when the record must be queued instead. A sink still
// draining the queue is waited for, as a stall, unless connDone closes.
func (s *inStream) claim(n int, connDone <-chan struct{}, stalled func() (unstall func())) *pipeSink {
	for {
		s.mu.Lock()
		sink := s.sink
		switch {
		case sink == nil || s.eof || s.gone || int64(n) > sink.left:
			s.mu.Unlock()
			return nil
		case sink.ready:
			sink.left -= int64(n)
			s.mu.Unlock()
			return sink
		}
		s.mu.Unlock()
		unstall := stalled()
		select {
		case <-sink.readyCh:
		case <-sink.done:
		case <-connDone:
		}
		unstall()
		select {
		case <-connDone:
			return nil
		default:
		}
	}
}

// settle records what a claimed record moved. A pipe that failed, or a
// sink that has taken all it may, is let go.
func (sink *pipeSink) settle(n int, pipeErr error) {
	s := sink.stream
	sink.moved.Add(int64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case pipeErr != nil:
		s.detachLocked(sink, pipeErr)
	case sink.left == 0:
		s.detachLocked(sink, nil)
	default:
		signal(sink.progress)
	}
}

// sinkFor is the sink that takes the content of STDIN record rec, whose
// header the read loop has just read, or nil.
func (c *conn) sinkFor(rec Header) *pipeSink {
	if rec.Type != TypeStdin || rec.ContentLength == 0 || c.raw == nil {
		return nil
	}
	c.mu.Lock()
	r := c.reqs[rec.ID]
	running := r != nil && r.state == reqRunning
	c.mu.Unlock()
	if !running {
		return nil
	}
	return r.stdin.claim(int(rec.ContentLength), c.ctx.Done(), c.stall)
}

// spliceStdin moves the content of the STDIN record whose header is at
// c.in.r into sink, and leaves its padding for next to skip. A pipe that
// fails loses the rest of the record, as a script that stops reading
// loses the rest of its body; only a failed connection is an error.
func (c *conn) spliceStdin(rec Header, sink *pipeSink) error {
	in := &c.in
	clen := int(rec.ContentLength)
	have := min(in.w-in.r-headerLen, clen)
	buffered := (*in.b)[in.r+headerLen : in.r+headerLen+have]
	in.r += headerLen + have
	taken, moved := have, 0 // content off the input, and into the pipe
	pipeErr := c.writePipe(sink.rc, buffered)
	if pipeErr == nil {
		n, perr, err := c.spliceSocket(sink.rc, clen-have)
		taken, moved = have+n, have+n
		if err != nil {
			sink.settle(moved, err)
			return err
		}
		pipeErr = perr
	}
	sink.settle(moved, pipeErr)
	skip := clen - taken + int(rec.PaddingLength)
	// The padding is read with the next header: one short read for both.
	drop := min(skip, in.w-in.r)
	in.r += drop
	c.skip = skip - drop
	c.shortReads = true
	return nil
}

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
func socketHolds(sock int) bool {
	q, err := unix.IoctlGetInt(sock, unix.SIOCINQ)
	return err == nil && q > 0
}
