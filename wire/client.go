package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// abortWait bounds how long Do waits for END_REQUEST after it sent
// ABORT_REQUEST. A variable for tests.
var abortWait = 5 * time.Second

var (
	errNoIDs        = errors.New("wire: all 65535 request IDs in use")
	errClientClosed = errors.New("wire: client closed")
	errUnknownType  = errors.New("wire: server does not know GET_VALUES")
)

// Client sends requests over one FastCGI connection. Its methods are safe
// for concurrent use; concurrent requests are multiplexed on the connection.
type Client struct {
	rwc net.Conn

	// wmu serialises writes; taken before mu when both are needed.
	wmu sync.Mutex

	mu     sync.Mutex
	reqs   map[uint16]*clientReq // sent and without END_REQUEST yet
	nextID uint16
	values []chan valuesResult // GET_VALUES waiters, in the order sent
	err    error               // why the read loop ended; set before done closes

	done chan struct{} // closed when the read loop ends
	// bg waits for the body senders; one may outlive its Do while blocked
	// in a Read of the request body. Close unblocks their writes.
	bg sync.WaitGroup
}

type clientReq struct {
	end chan EndRequest // cap 1, sent by the read loop
	// refs keeps the request ID taken until both END_REQUEST arrived and
	// the body sender stopped, so no stray STDIN can reach a later request
	// with the same ID. Guarded by Client.mu.
	refs int

	mu        sync.Mutex // held while output is written, so Do can stop it
	stdout    io.Writer
	stderr    io.Writer
	werr      error // first failure of stdout or stderr
	abandoned bool  // Do returned: drop output
}

type valuesResult struct {
	m   map[string]string
	err error
}

// NewClient starts a client on an established connection.
func NewClient(rwc net.Conn) *Client {
	c := &Client{
		rwc:  rwc,
		reqs: make(map[uint16]*clientReq),
		done: make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Dial connects to a FastCGI server, e.g. Dial(ctx, "unix", "/run/app.sock").
func Dial(ctx context.Context, network, address string) (*Client, error) {
	var d net.Dialer
	rwc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return NewClient(rwc), nil
}

// Close closes the connection and waits for the client's goroutines.
func (c *Client) Close() error {
	err := c.rwc.Close()
	<-c.done
	c.bg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (c *Client) readLoop() {
	defer close(c.done)
	br := bufio.NewReaderSize(c.rwc, 64<<10)
	buf := make([]byte, RecordBufSize)
	var err error
	for err == nil {
		var rec Record
		if rec, err = ReadRecord(br, buf); err == nil {
			err = c.dispatch(rec)
		}
	}
	_ = c.rwc.Close()
	c.mu.Lock()
	if errors.Is(err, net.ErrClosed) {
		err = errClientClosed
	}
	c.err = err
	values := c.values
	c.values = nil
	c.mu.Unlock()
	for _, ch := range values {
		ch <- valuesResult{err: c.connErr()}
	}
}

// connErr describes the end of the connection; only valid after done.
func (c *Client) connErr() error {
	if c.err == errClientClosed {
		return c.err
	}
	return fmt.Errorf("wire: connection ended before the reply: %w", c.err)
}

func (c *Client) dispatch(rec Record) error {
	if rec.ID == 0 {
		var res valuesResult
		switch rec.Type {
		case TypeGetValuesResult:
			res.m = make(map[string]string)
			res.err = eachPair(rec.Content, func(name, value []byte) {
				res.m[string(name)] = string(value)
			})
		case TypeUnknownType:
			res.err = errUnknownType
		default:
			return nil
		}
		c.mu.Lock()
		var ch chan valuesResult
		if len(c.values) > 0 {
			ch = c.values[0]
			c.values = c.values[1:]
		}
		c.mu.Unlock()
		if ch != nil {
			ch <- res
		}
		return nil
	}
	c.mu.Lock()
	r := c.reqs[rec.ID]
	if r != nil && rec.Type == TypeEndRequest {
		c.releaseLocked(rec.ID, r)
	}
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	switch rec.Type {
	case TypeStdout, TypeStderr:
		if len(rec.Content) == 0 {
			return nil
		}
		r.mu.Lock()
		if !r.abandoned && r.werr == nil {
			w := r.stdout
			if rec.Type == TypeStderr {
				w = r.stderr
			}
			_, r.werr = w.Write(rec.Content)
		}
		r.mu.Unlock()
	case TypeEndRequest:
		e, err := ParseEndRequest(rec.Content)
		if err != nil {
			return err
		}
		r.end <- e
	}
	return nil
}

func (c *Client) releaseLocked(id uint16, r *clientReq) {
	if r.refs--; r.refs == 0 {
		delete(c.reqs, id)
	}
}

// register assigns a free request ID to r.
func (c *Client) register(r *clientReq) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.connErr()
	}
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, busy := c.reqs[c.nextID]; !busy {
			r.refs = 1
			c.reqs[c.nextID] = r
			return c.nextID, nil
		}
	}
	return 0, errNoIDs
}

// write writes all of bufs; a failure closes the connection, which ends
// every request on it.
func (c *Client) write(bufs net.Buffers) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(bufs)
}

func (c *Client) writeLocked(bufs net.Buffers) error {
	if _, err := bufs.WriteTo(c.rwc); err != nil {
		_ = c.rwc.Close()
		return err
	}
	return nil
}

// ClientRequest is one request for Client.Do.
type ClientRequest struct {
	Role     Role // 0 means RoleResponder
	KeepConn bool
	// Params are sent in order, packed into PARAMS records of up to 65535
	// bytes.
	Params []Pair
	// Stdin is streamed as FCGI_STDIN records while the response is read.
	// nil means an empty body.
	Stdin io.Reader
	// Data is streamed as FCGI_DATA records after Stdin (FILTER).
	Data io.Reader
}

// Do sends one request and copies FCGI_STDOUT to stdout and FCGI_STDERR to
// stderr (nil discards) as they arrive. Concurrent calls multiplex on the
// connection.
//
// If ctx is cancelled, Do sends FCGI_ABORT_REQUEST, waits up to 5 s for
// END_REQUEST and returns ctx.Err(). It returns an error if the connection
// ends before END_REQUEST, or if writing stdout or stderr fails.
//
// Do does not wait for a Read of req.Stdin or req.Data in progress when the
// response ends: that Read may still return after Do, and its data is
// dropped. The request ID stays reserved until then, and Close waits for it.
func (c *Client) Do(ctx context.Context, req *ClientRequest, stdout, stderr io.Writer) (EndRequest, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	r := &clientReq{end: make(chan EndRequest, 1), stdout: stdout, stderr: stderr}
	id, err := c.register(r)
	if err != nil {
		return EndRequest{}, err
	}
	role := req.Role
	if role == 0 {
		role = RoleResponder
	}
	var flags uint8
	if req.KeepConn {
		flags = FlagKeepConn
	}
	head := AppendRequestHead(nil, id, role, flags, req.Params)
	body := req.Stdin != nil || (role == RoleFilter && req.Data != nil)
	if !body {
		head = AppendRecord(head, TypeStdin, id, nil)
		if role == RoleFilter {
			head = AppendRecord(head, TypeData, id, nil)
		}
	}
	if err := c.write(net.Buffers{head}); err != nil {
		c.mu.Lock()
		delete(c.reqs, id)
		c.mu.Unlock()
		return EndRequest{}, fmt.Errorf("wire: sending request: %w", err)
	}

	stopBody := make(chan struct{})
	var bodyCh chan error // nil once the sender's result is taken
	if body {
		bodyCh = make(chan error, 1)
		// Add under mu while the read loop runs, so it happens before
		// Close's Wait.
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return EndRequest{}, c.connErr()
		}
		c.bg.Add(1)
		r.refs++
		c.mu.Unlock()
		go func() {
			defer c.bg.Done()
			bodyCh <- c.sendBody(id, role, req, stopBody)
			c.mu.Lock()
			c.releaseLocked(id, r)
			c.mu.Unlock()
		}()
	}
	// finish stops the body sender (at its next Read) and the output.
	finish := func() {
		close(stopBody)
		r.mu.Lock()
		r.abandoned = true
		r.mu.Unlock()
	}
	outErr := func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.werr
	}

	var cause error
	for cause == nil {
		select {
		case e := <-r.end:
			finish()
			return e, outErr()
		case err := <-bodyCh:
			bodyCh = nil
			if err != nil {
				cause = fmt.Errorf("wire: reading request body: %w", err)
			}
		case <-ctx.Done():
			cause = ctx.Err()
		case <-c.done:
			select {
			case e := <-r.end:
				finish()
				return e, outErr()
			default:
			}
			finish()
			return EndRequest{}, c.connErr()
		}
	}

	// Aborted: tell the server, then give it abortWait to finish. The
	// ABORT is written from its own goroutine: the write lock may be held
	// by a body write that a server no longer reading will never finish.
	t := time.NewTimer(abortWait)
	defer t.Stop()
	c.mu.Lock()
	c.bg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.bg.Done()
		_ = c.write(net.Buffers{AppendRecord(nil, TypeAbortRequest, id, nil)})
	}()
	var e EndRequest
	select {
	case e = <-r.end:
	case <-c.done:
		select {
		case e = <-r.end:
		default:
		}
	case <-t.C:
		// No answer, maybe not even the ABORT sent: the connection is
		// wedged. Closing it is the abort every server understands, and
		// it releases the blocked writes.
		_ = c.rwc.Close()
	}
	finish()
	return e, cause
}

// sendBody streams req.Stdin then, for FILTER, req.Data, each ended by its
// empty record. It stops early once stop closes.
func (c *Client) sendBody(id uint16, role Role, req *ClientRequest, stop <-chan struct{}) error {
	buf := make([]byte, MaxContent)
	var hdr [headerLen]byte
	streams := []struct {
		t RecType
		r io.Reader
	}{{TypeStdin, req.Stdin}}
	if role == RoleFilter {
		streams = append(streams, struct {
			t RecType
			r io.Reader
		}{TypeData, req.Data})
	}
	for _, s := range streams {
		for s.r != nil {
			n, err := s.r.Read(buf)
			select {
			case <-stop:
				return nil
			default:
			}
			if n > 0 {
				pad := padLen(n)
				putHeader(hdr[:], s.t, id, n, pad)
				if werr := c.write(net.Buffers{hdr[:], buf[:n], zeros[:pad]}); werr != nil {
					return nil // the read loop reports the dead connection
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		putHeader(hdr[:], s.t, id, 0, 0)
		if c.write(net.Buffers{hdr[:]}) != nil {
			return nil
		}
	}
	return nil
}

// GetValues asks the server for the named FCGI_GET_VALUES variables
// (MaxConnsName, MaxReqsName, MpxsConnsName) and returns its answer.
func (c *Client) GetValues(ctx context.Context, names ...string) (map[string]string, error) {
	var pairs []byte
	for _, n := range names {
		pairs = AppendPair(pairs, n, "")
	}
	if len(pairs) > MaxContent {
		return nil, errors.New("wire: GET_VALUES names longer than one record")
	}
	ch := make(chan valuesResult, 1)
	// Register and send under wmu, so waiters queue in the order their
	// requests leave.
	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, c.connErr()
	}
	c.values = append(c.values, ch)
	c.mu.Unlock()
	err := c.writeLocked(net.Buffers{AppendRecord(nil, TypeGetValues, 0, pairs)})
	c.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case res := <-ch:
		return res.m, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
