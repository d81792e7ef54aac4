package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// lingerTimeout bounds how long a closing connection keeps reading after its
// half-close, so the client reads our last bytes instead of an RST.
const lingerTimeout = 2 * time.Second

// errWriteClosed fails writes after the connection's half-close.
var errWriteClosed = errors.New("wire: connection closed for writing")

// errDrain tells the read loop that the connection is closing.
var errDrain = errors.New("wire: connection draining")

// protoError is input that breaks the protocol; it ends the connection with
// one log line.
type protoError struct{ msg string }

func (e *protoError) Error() string { return "wire: " + e.msg }

func malformed(format string, args ...any) error {
	return &protoError{fmt.Sprintf(format, args...)}
}

// conn serves one connection: one read loop (the goroutine that called
// serve) and one goroutine per running request.
type conn struct {
	srv *Server
	rwc net.Conn

	// ctx ends with the connection; its cause is why. The requests'
	// contexts are not its children but base's, which is never cancelled:
	// abort cancels them itself. A child registers with its parent and
	// deregisters when done, 0.6% of the daemon's CPU per tiny request.
	base   context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc

	// dead is set first thing by abort, so that no write starts between
	// the cancellation it causes and the close of rwc.
	dead atomic.Bool
	wmu  sync.Mutex // serialises writes to rwc
	werr error      // first write failure, or errWriteClosed; guarded by wmu

	mu            sync.Mutex
	reqs          map[uint16]*request // begun and not yet forgotten
	active        int                 // requests in reqs not reqFinished
	closeWhenIdle bool                // a request without FCGI_KEEP_CONN ended
	draining      bool                // closing: input is discarded
	lingerUntil   time.Time           // when draining, the end of the lingering read

	// deadline is the read deadline last set on rwc and why; see
	// armDeadlineLocked.
	deadline    time.Time
	deadlineWhy string

	// handlers waits for the handlers the read loop started.
	handlers sync.WaitGroup
	hup      *hangupWatcher // started by the read loop at its first stall

	// raw is rwc's, for reads that wait without a buffer, the ioctl of
	// lingerClose, the hang-up watcher and SpliceFrom; nil if rwc has none.
	raw syscall.RawConn

	// The read loop's own: its input, and what readIdle needs.
	in        inBuf
	rawReadFn func(fd uintptr) bool // rawRead, bound once: binding it per read would allocate
	rawErr    error                 // the result of rawRead's read
	hdr       [headerLen]byte       // the header readIdle reads without raw; a field, as reading into it makes it escape

	// After a record spliced into a pipe, skip is the input still to be
	// dropped before the next header (padding, or the rest of a record
	// whose pipe failed), and shortReads has reads take only what the
	// next header needs, so that the next record's content stays in the
	// socket to be spliced too.
	skip       int
	shortReads bool
	readMax    int // how much rawRead may read; 0 is a whole buffer

	// spliceSocket's state, made at the first splice: most connections
	// never splice, and a thousand idle ones should stay small.
	spliceIn *spliceIn
}

// newConn serves rwc; base, the parent of its requests' contexts, is never
// cancelled (see Serve): requests end with their connection.
func newConn(base context.Context, s *Server, rwc net.Conn) *conn {
	c := &conn{
		srv:  s,
		rwc:  rwc,
		base: base,
		reqs: make(map[uint16]*request),
	}
	c.ctx, c.cancel = context.WithCancelCause(base)
	if sc, ok := rwc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.raw, c.rawReadFn = rc, c.rawRead
		}
	}
	return c
}

// logger is the connection's logger, made for each of the rare lines it
// writes: making it with the connection cost 0.4% of the daemon's CPU per
// tiny request.
func (c *conn) logger() hclog.Logger {
	return c.srv.logger().With("remote", addrString(c.rwc.RemoteAddr()))
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// abort ends the connection now: it cancels every request with cause (the
// first abort's) and unblocks every read and write.
func (c *conn) abort(cause error) {
	c.dead.Store(true)
	c.cancel(cause)
	c.mu.Lock()
	cause = context.Cause(c.ctx)
	for _, r := range c.reqs {
		if r.cancel != nil {
			r.cancel(cause)
		}
	}
	c.mu.Unlock()
	_ = c.rwc.Close()
}

// isProtoError reports whether err is, or wraps, a *protoError. Unlike
// errors.As, whose target variable escaped to the heap, errors.AsType
// allocates nothing: serve, once per connection, did.
func isProtoError(err error) bool {
	_, ok := errors.AsType[*protoError](err)
	return ok
}

// serve runs the read loop, then cancels what is left and waits for the
// handlers.
func (c *conn) serve() {
	err := c.readLoop()
	c.mu.Lock()
	draining, why := c.draining, c.deadlineWhy
	c.mu.Unlock()
	switch {
	case draining || c.ctx.Err() != nil:
		// We closed it, or it was aborted.
	case errors.Is(err, os.ErrDeadlineExceeded) && why == whyIdle:
		c.logger().Debug("idle connection closed", "idle_timeout", c.srv.IdleTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded) && why == whyParams:
		c.logger().Warn("closing connection: request params not complete in time", "params_timeout", c.srv.ParamsTimeout)
	case isProtoError(err), errors.Is(err, errBadVersion), errors.Is(err, errPairs),
		errors.Is(err, io.ErrUnexpectedEOF):
		c.logger().Warn("malformed FastCGI input, closing connection", "error", err)
	case err == io.EOF:
		// Every connection without keep-alive ends here.
		if c.srv.logger().IsTrace() {
			c.logger().Trace("connection closed by client")
		}
	default:
		c.logger().Debug("connection read failed", "error", err)
	}
	c.abort(ErrConnClosed)
	c.waitHangupWatcher()
	c.handlers.Wait()
	c.mu.Lock()
	for _, r := range c.reqs {
		if r.state == reqParams {
			c.srv.releaseReq()
		}
	}
	c.reqs = nil
	c.mu.Unlock()
}

const (
	whyIdle   = "idle"
	whyParams = "params"
)

// armDeadline sets the read deadline before the read loop reads.
func (c *conn) armDeadline() {
	// Held while setting the deadline, so that a concurrent start of
	// draining or end of a request (under c.mu too) cannot be overwritten
	// by a stale one.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armDeadlineLocked()
}

// armDeadlineLocked sets the read deadline the connection's state calls
// for: an idle connection must send a complete record within IdleTimeout,
// and a request must complete its PARAMS within ParamsTimeout of its
// BEGIN. A connection whose requests are all running has none: a slow
// upload is legitimate. Besides the read loop, finish calls it, as the end
// of a request may leave the connection idle.
func (c *conn) armDeadlineLocked() {
	var when time.Time
	why := ""
	if c.draining {
		when, why = c.lingerUntil, "linger"
	} else if c.active == 0 {
		if t := c.srv.IdleTimeout; t > 0 {
			when, why = time.Now().Add(t), whyIdle
		}
	} else if t := c.srv.ParamsTimeout; t > 0 {
		for _, r := range c.reqs {
			if r.state == reqParams {
				if d := r.begun.Add(t); when.IsZero() || d.Before(when) {
					when, why = d, whyParams
				}
			}
		}
	}
	if when.Equal(c.deadline) && why == c.deadlineWhy {
		return
	}
	c.deadline, c.deadlineWhy = when, why
	c.rwc.SetReadDeadline(when)
}

// run is the work of one request's handler.
func (c *conn) run(r *request) {
	defer c.handlers.Done()
	status := c.srv.Handler.ServeFCGI(r.ctx, &r.req)
	c.finish(r, status)
}

// finish ends a request whose handler returned: the ends of its output
// streams and END_REQUEST in one write.
func (c *conn) finish(r *request, appStatus uint32) {
	_, stdoutTail := r.stdout.finish()
	stderrUsed, stderrTail := r.stderr.finish()
	r.cancel(errRequestDone)
	r.stdin.close()
	if r.data != nil {
		r.data.close()
	}
	c.mu.Lock()
	// Free the ID and the request slot before END_REQUEST leaves: a client
	// may reuse both the moment it reads it.
	r.state = reqFinished
	if r.inputDone() {
		delete(c.reqs, r.id)
	}
	c.active--
	c.srv.releaseReq()
	drain := c.endedLocked(r.keepConn)
	if !drain {
		// The read loop may already wait for the next record, under the
		// deadline it set while this request ran (none): if the
		// connection is idle now, IdleTimeout starts here.
		c.armDeadlineLocked()
	}
	c.mu.Unlock()

	// What Delay kept back goes out with the ends of the streams and
	// END_REQUEST, all in one write; each tail is one record.
	bufs := append(append(net.Buffers(r.endIov[:0]), stdoutTail...), stderrTail...)
	b := appendHeader(r.endBuf[:0], TypeStdout, r.id, 0, 0)
	if stderrUsed {
		b = appendHeader(b, TypeStderr, r.id, 0, 0)
	}
	b = AppendEndRequest(b, r.id, EndRequest{AppStatus: appStatus})
	r.endSend = append(bufs, b)
	_ = c.write(&r.endSend)
	if drain {
		c.lingerClose()
	}
}

// closeIfIdle closes the connection if no request is active: at once, as
// on Shutdown, where an idle connection has no response in flight that an
// RST could destroy (keep-alive clients such as h2o would otherwise hold
// the shutdown for the whole linger time).
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	idle := c.active == 0 && !c.draining
	if idle {
		c.draining = true
	}
	c.mu.Unlock()
	if idle {
		c.abort(ErrServerClosed)
	}
}

// lingerClose half-closes the connection and lets the read loop discard what
// the client still sends, for at most lingerTimeout; closing at once could
// make the kernel answer with an RST that destroys response bytes the client
// has not read yet.
//
// A client that has ended every input stream and has nothing in flight is
// done sending (a web server without keep-alive, after its last request):
// its connection closes at once, as lingering would only wait for its
// close and cost a wake-up per connection for nothing. Should it send
// after all, a unix socket still delivers the response, and over TCP only
// a client that broke the protocol sees a reset.
func (c *conn) lingerClose() {
	c.mu.Lock()
	inputsDone := len(c.reqs) == 0
	c.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		_ = c.rwc.Close()
		return
	}
	c.werr = errWriteClosed
	if inputsDone && nothingUnread(c.raw) {
		_ = c.rwc.Close()
		return
	}
	if hc, ok := c.rwc.(HalfCloser); ok && hc.CloseWrite() == nil {
		if c.rwc.SetReadDeadline(time.Now().Add(lingerTimeout)) == nil {
			return
		}
	}
	_ = c.rwc.Close()
}

// writeBytes writes one buffer; failures are handled by write.
func (c *conn) writeBytes(b []byte) {
	bufs := net.Buffers{b}
	_ = c.write(&bufs)
}

// write writes all of bufs (consuming it) under the write lock. A failure
// ends the connection and cancels its requests with the error as cause.
func (c *conn) write(bufs *net.Buffers) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	return c.writeLocked(bufs)
}

// writableLocked is why nothing more may be written; c.wmu is held.
func (c *conn) writableLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if c.dead.Load() {
		return ErrConnClosed
	}
	return nil
}

// writeLocked is write with c.wmu held.
func (c *conn) writeLocked(bufs *net.Buffers) error {
	timeout := c.srv.WriteTimeout
	for {
		if timeout > 0 {
			_ = c.rwc.SetWriteDeadline(time.Now().Add(timeout))
		}
		n, err := bufs.WriteTo(c.rwc)
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && n > 0 && len(*bufs) > 0 {
			continue // progress: a slow client, not a stuck one
		}
		return c.failWriteLocked(err)
	}
}

// failWriteLocked ends the connection after a failed write; c.wmu is held.
func (c *conn) failWriteLocked(err error) error {
	if c.ctx.Err() == nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.logger().Warn("client stopped reading, closing connection", "timeout", c.srv.WriteTimeout)
		} else {
			c.logger().Debug("connection write failed", "error", err)
		}
	}
	c.werr = err
	c.abort(err)
	return err
}
