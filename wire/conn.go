package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
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
	log hclog.Logger

	// ctx is the parent of every request context; its cause is why the
	// connection ended.
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
	// nextDeadline. Used by the read loop only.
	deadline    time.Time
	deadlineWhy string

	// handlers waits for the handler goroutines started by the read loop.
	handlers sync.WaitGroup
	hup      *hangupWatcher // started by the read loop at its first stall
}

func newConn(ctx context.Context, s *Server, rwc net.Conn) *conn {
	c := &conn{
		srv:  s,
		rwc:  rwc,
		log:  s.logger().With("remote", addrString(rwc.RemoteAddr())),
		reqs: make(map[uint16]*request),
	}
	// Requests keep the caller's values but end only with this connection.
	c.ctx, c.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	return c
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// abort ends the connection now: it cancels every request with cause and
// unblocks every read and write.
func (c *conn) abort(cause error) {
	c.dead.Store(true)
	c.cancel(cause)
	_ = c.rwc.Close()
}

// serve runs the read loop, then cancels what is left and waits for the
// handlers.
func (c *conn) serve() {
	err := c.readLoop()
	c.mu.Lock()
	draining := c.draining
	c.mu.Unlock()
	var pe *protoError
	switch {
	case draining || c.ctx.Err() != nil:
		// We closed it, or it was aborted.
	case errors.Is(err, os.ErrDeadlineExceeded) && c.deadlineWhy == whyIdle:
		c.log.Debug("idle connection closed", "idle_timeout", c.srv.IdleTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded) && c.deadlineWhy == whyParams:
		c.log.Warn("closing connection: request params not complete in time", "params_timeout", c.srv.ParamsTimeout)
	case errors.As(err, &pe), errors.Is(err, errBadVersion), errors.Is(err, errPairs),
		errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Warn("malformed FastCGI input, closing connection", "error", err)
	case err == io.EOF:
		c.log.Trace("connection closed by client")
	default:
		c.log.Debug("connection read failed", "error", err)
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

// recordBufs holds record buffers between records: an idle connection,
// waiting for its next header, holds none, so thousands of keep-alive
// connections cost little memory.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, RecordBufSize); return &b }}

const (
	whyIdle   = "idle"
	whyParams = "params"
)

// readers holds buffered readers between bursts: a connection gives its
// reader back whenever it has nothing buffered, so an idle keep-alive
// connection holds no buffer at all.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

func (c *conn) readLoop() error {
	var br *bufio.Reader // nil while nothing is buffered
	defer func() {
		if br != nil {
			br.Reset(nil)
			readers.Put(br)
		}
	}()
	var hdr [headerLen]byte
	for {
		c.armDeadline()
		var err error
		if br == nil {
			// Idle: wait for the next header without a buffer.
			_, err = io.ReadFull(c.rwc, hdr[:])
			if err == nil {
				br = readers.Get().(*bufio.Reader)
				br.Reset(c.rwc)
			}
		} else {
			_, err = io.ReadFull(br, hdr[:])
		}
		if err != nil {
			return err
		}
		bufp := recordBufs.Get().(*[]byte)
		rec, err := readBody(br, hdr[:], *bufp)
		if err == nil {
			err = c.dispatch(rec)
		}
		recordBufs.Put(bufp)
		if err != nil {
			if err == errDrain {
				// lingerClose's deadline bounds this.
				_, err = io.Copy(io.Discard, br)
			}
			return err
		}
		if br.Buffered() == 0 {
			br.Reset(nil)
			readers.Put(br)
			br = nil
		}
	}
}

// armDeadline sets the read deadline the connection's state calls for: an
// idle connection must send a complete record within IdleTimeout, and a
// request must complete its PARAMS within ParamsTimeout of its BEGIN. A
// connection whose requests are all running has none: a slow upload is
// legitimate.
func (c *conn) armDeadline() {
	var when time.Time
	why := ""
	// Held while setting the deadline, so that a concurrent start of
	// draining (under c.mu too) cannot be overwritten by a stale one.
	c.mu.Lock()
	defer c.mu.Unlock()
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

func (c *conn) dispatch(rec Record) error {
	c.mu.Lock()
	draining := c.draining
	c.mu.Unlock()
	if draining {
		return errDrain
	}
	if rec.ID == 0 {
		return c.management(rec)
	}
	switch rec.Type {
	case TypeBeginRequest:
		return c.begin(rec)
	case TypeAbortRequest:
		return c.abortRequest(rec.ID)
	case TypeParams:
		return c.params(rec)
	case TypeStdin, TypeData:
		return c.input(rec)
	}
	return malformed("unexpected %s record for request %d", rec.Type, rec.ID)
}

func (c *conn) management(rec Record) error {
	if !rec.Type.isManagement() {
		return malformed("%s record on request ID 0", rec.Type)
	}
	if rec.Type != TypeGetValues {
		c.writeBytes(AppendUnknownType(nil, rec.Type))
		return nil
	}
	var reply []byte
	err := eachPair(rec.Content, func(name, _ []byte) {
		var v int
		switch string(name) {
		case MaxConnsName:
			v = c.srv.MaxConns
		case MaxReqsName:
			v = c.srv.MaxReqs
		case MpxsConnsName:
			v = 1
		default:
			return
		}
		if v <= 0 {
			// Unlimited; request IDs are 16 bits, so this is as good as any.
			v = 65535
		}
		reply = AppendPair(reply, string(name), strconv.Itoa(v))
	})
	if err != nil {
		return malformed("GET_VALUES: %v", err)
	}
	if len(reply) > MaxContent {
		// Only a client asking for the same names thousands of times gets here.
		return malformed("GET_VALUES asks for too much")
	}
	c.writeBytes(AppendRecord(nil, TypeGetValuesResult, 0, reply))
	return nil
}

func (c *conn) begin(rec Record) error {
	role, flags, err := ParseBeginRequest(rec.Content)
	if err != nil {
		return malformed("request %d: %v", rec.ID, err)
	}
	id, keepConn := rec.ID, flags&FlagKeepConn != 0
	c.mu.Lock()
	if old := c.reqs[id]; old != nil && old.state != reqFinished {
		c.mu.Unlock()
		return malformed("BEGIN_REQUEST for active request %d", id)
	}
	var status ProtocolStatus
	switch {
	case role < RoleResponder || role > RoleFilter:
		status = StatusUnknownRole
	case c.srv.shuttingDown.Load() || !c.srv.acquireReq():
		status = StatusOverloaded
	default:
		c.reqs[id] = c.newRequest(id, role, keepConn)
		c.active++
		c.mu.Unlock()
		return nil
	}
	// Rejected: remember the ID so the PARAMS and STDIN the client already
	// sent are dropped quietly.
	c.reqs[id] = &request{id: id, role: role, keepConn: keepConn, state: reqFinished}
	drain := c.endedLocked(keepConn)
	c.mu.Unlock()
	c.writeBytes(AppendEndRequest(nil, id, EndRequest{ProtocolStatus: status}))
	if drain {
		c.lingerClose()
	}
	return nil
}

func (c *conn) newRequest(id uint16, role Role, keepConn bool) *request {
	r := &request{id: id, role: role, keepConn: keepConn, begun: time.Now()}
	r.ctx, r.cancel = context.WithCancelCause(c.ctx)
	limit := c.srv.maxBodyBuffer()
	r.stdin = newInStream(r.ctx, limit, role == RoleAuthorizer)
	if role == RoleFilter {
		r.data = newInStream(r.ctx, limit, false)
	}
	r.stdout = outStream{c: c, r: r, typ: TypeStdout}
	r.stderr = outStream{c: c, r: r, typ: TypeStderr}
	return r
}

// endedLocked records that a request without an active handler has got (or
// is about to get) its END_REQUEST, and reports whether the connection
// should now close. It sets draining in that case, so no new request starts.
func (c *conn) endedLocked(keepConn bool) bool {
	if !keepConn {
		c.closeWhenIdle = true
	}
	if c.active == 0 && !c.draining && (c.closeWhenIdle || c.srv.shuttingDown.Load()) {
		c.draining = true
		c.lingerUntil = time.Now().Add(lingerTimeout)
		return true
	}
	return false
}

func (c *conn) abortRequest(id uint16) error {
	c.mu.Lock()
	r := c.reqs[id]
	if r == nil || r.state == reqFinished {
		// The abort crossed our END_REQUEST.
		c.mu.Unlock()
		return nil
	}
	if r.state == reqRunning {
		c.mu.Unlock()
		r.cancel(ErrAborted)
		return nil
	}
	// No handler yet: the request ends here.
	r.params = nil
	r.state = reqFinished
	r.cancel(ErrAborted)
	c.active--
	c.srv.releaseReq()
	drain := c.endedLocked(r.keepConn)
	c.mu.Unlock()
	c.writeBytes(AppendEndRequest(nil, id, EndRequest{ProtocolStatus: StatusRequestComplete}))
	if drain {
		c.lingerClose()
	}
	return nil
}

func (c *conn) params(rec Record) error {
	c.mu.Lock()
	r := c.reqs[rec.ID]
	var state reqState
	if r != nil {
		state = r.state
	}
	c.mu.Unlock()
	switch {
	case r == nil:
		return malformed("PARAMS for request %d, which was never begun", rec.ID)
	case state == reqFinished:
		return nil
	case state == reqRunning:
		return malformed("PARAMS after the end of the PARAMS stream of request %d", rec.ID)
	}
	if len(rec.Content) > 0 {
		if max := c.srv.maxParamsBytes(); len(r.params)+len(rec.Content) > max {
			return malformed("PARAMS of request %d exceed %d bytes", rec.ID, max)
		}
		r.params = append(r.params, rec.Content...)
		return nil
	}
	params := make(map[string]string)
	count, maxCount := 0, c.srv.maxParamCount()
	err := eachPair(r.params, func(name, value []byte) {
		if count++; count <= maxCount {
			params[string(name)] = string(value)
		}
	})
	if err != nil {
		return malformed("PARAMS of request %d: %v", rec.ID, err)
	}
	if count > maxCount {
		return malformed("PARAMS of request %d: %d name-value pairs, more than %d", rec.ID, count, maxCount)
	}
	r.params = nil
	req := &Request{
		ID:         r.id,
		Role:       r.role,
		KeepConn:   r.keepConn,
		Params:     params,
		Stdin:      r.stdin,
		Stdout:     &r.stdout,
		Stderr:     &r.stderr,
		LocalAddr:  c.rwc.LocalAddr(),
		RemoteAddr: c.rwc.RemoteAddr(),
	}
	if r.data != nil {
		req.Data = r.data
	}
	c.mu.Lock()
	r.state = reqRunning
	c.mu.Unlock()
	c.handlers.Add(1)
	go c.run(r, req)
	return nil
}

func (c *conn) input(rec Record) error {
	c.mu.Lock()
	r := c.reqs[rec.ID]
	if r == nil {
		c.mu.Unlock()
		return malformed("%s for request %d, which was never begun", rec.Type, rec.ID)
	}
	if r.state == reqParams {
		c.mu.Unlock()
		return malformed("%s before the end of PARAMS of request %d", rec.Type, rec.ID)
	}
	s := r.stdin
	if rec.Type == TypeData {
		s = r.data
	}
	if len(rec.Content) == 0 {
		if rec.Type == TypeStdin {
			r.stdinDone = true
		} else {
			r.dataDone = true
		}
	}
	if r.state == reqFinished {
		if r.inputDone() {
			delete(c.reqs, rec.ID)
		}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if s == nil {
		// DATA for a role that has no DATA stream.
		return nil
	}
	if rec.Type == TypeData && !r.stdinDone {
		// Pushing DATA while the handler waits for the end of STDIN could
		// wedge the read loop.
		return malformed("DATA before the end of STDIN of request %d", rec.ID)
	}
	if !s.push(c.ctx.Done(), c.stall, rec.Content) {
		return context.Cause(c.ctx)
	}
	return nil
}

// run is the goroutine of one request's handler.
func (c *conn) run(r *request, req *Request) {
	defer c.handlers.Done()
	status := c.srv.Handler.ServeFCGI(r.ctx, req)
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
	c.mu.Unlock()

	// What Delay kept back goes out with the ends of the streams and
	// END_REQUEST, all in one write; each tail is one record.
	bufs := append(append(net.Buffers(r.endIov[:0]), stdoutTail...), stderrTail...)
	b := appendHeader(r.endBuf[:0], TypeStdout, r.id, 0, 0)
	if stderrUsed {
		b = appendHeader(b, TypeStderr, r.id, 0, 0)
	}
	b = AppendEndRequest(b, r.id, EndRequest{AppStatus: appStatus})
	bufs = append(bufs, b)
	_ = c.write(&bufs)
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
	if inputsDone && nothingUnread(c.rwc) {
		_ = c.rwc.Close()
		return
	}
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
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
	if c.werr != nil {
		return c.werr
	}
	if c.dead.Load() {
		return ErrConnClosed
	}
	timeout := c.srv.WriteTimeout
	for {
		if timeout > 0 {
			_ = c.rwc.SetWriteDeadline(time.Now().Add(timeout))
		}
		n, err := bufs.WriteTo(c.rwc)
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if n > 0 && len(*bufs) > 0 {
				continue // progress: a slow client, not a stuck one
			}
			if c.ctx.Err() == nil {
				c.log.Warn("client stopped reading, closing connection", "timeout", timeout)
			}
		} else if c.ctx.Err() == nil {
			c.log.Debug("connection write failed", "error", err)
		}
		c.werr = err
		c.abort(err)
		return err
	}
}
