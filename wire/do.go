package wire

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

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

// clientReq is the client's record of one request ID.
type clientReq struct {
	id   uint16          // set by register
	end  chan EndRequest // cap 1, sent by the read loop
	stop chan struct{}   // closed when Do returns: the body sender stops
	// refs keeps the request ID taken until both END_REQUEST arrived and
	// the body sender stopped, so no stray STDIN can reach a later request
	// with the same ID. Guarded by Client.mu, as is replied.
	refs    int
	replied bool // the reply's reference is dropped: END_REQUEST came, or the head failed

	mu        sync.Mutex // held while output is written, so Do can stop it
	stdout    io.Writer
	stderr    io.Writer
	werr      error // first failure of stdout or stderr
	abandoned bool  // Do returned: drop output
}

// abandon stops the body sender (at its next Read) and the output.
func (r *clientReq) abandon() {
	close(r.stop)
	r.mu.Lock()
	r.abandoned = true
	r.mu.Unlock()
}

func (r *clientReq) outErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.werr
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
	r := &clientReq{end: make(chan EndRequest, 1), stop: make(chan struct{}), stdout: stdout, stderr: stderr}
	bodyErr, err := c.send(r, req)
	if err != nil {
		return EndRequest{}, err
	}
	defer r.abandon()
	var cause error
	for cause == nil {
		select {
		case e := <-r.end:
			return e, r.outErr()
		case err := <-bodyErr:
			bodyErr = nil
			if err != nil {
				cause = fmt.Errorf("wire: reading request body: %w", err)
			}
		case <-ctx.Done():
			cause = ctx.Err()
		case <-c.done:
			select {
			case e := <-r.end:
				return e, r.outErr()
			default:
			}
			return EndRequest{}, c.connErr()
		}
	}
	return c.abort(r), cause
}

// send registers r, sends the request's head and starts the body sender,
// whose result comes on the returned channel (nil without a body).
func (c *Client) send(r *clientReq, req *ClientRequest) (<-chan error, error) {
	role := req.Role
	if role == 0 {
		role = RoleResponder
	}
	var flags uint8
	if req.KeepConn {
		flags = FlagKeepConn
	}
	body := req.Stdin != nil || (role == RoleFilter && req.Data != nil)
	if err := c.register(r, body); err != nil {
		return nil, err
	}
	head := AppendRequestHead(nil, r.id, role, flags, req.Params)
	if !body {
		head = AppendRecord(head, TypeStdin, r.id, nil)
		if role == RoleFilter {
			head = AppendRecord(head, TypeData, r.id, nil)
		}
	}
	if err := c.write(net.Buffers{head}); err != nil {
		c.mu.Lock()
		c.replyLocked(r)
		if body {
			c.releaseLocked(r)
		}
		c.mu.Unlock()
		if body {
			c.bg.Done()
		}
		return nil, fmt.Errorf("wire: sending request: %w", err)
	}
	if !body {
		return nil, nil
	}
	bodyErr := make(chan error, 1)
	go func() {
		defer c.bg.Done()
		bodyErr <- c.sendBody(r.id, role, req, r.stop)
		c.mu.Lock()
		c.releaseLocked(r)
		c.mu.Unlock()
	}()
	return bodyErr, nil
}

// abort tells the server to abort r, then gives it abortWait to answer
// and returns the answer, if any.
func (c *Client) abort(r *clientReq) EndRequest {
	t := time.NewTimer(abortWait)
	defer t.Stop()
	// The ABORT is written from its own goroutine: the write lock may be
	// held by a body write that a server no longer reading will never
	// finish.
	// Added under mu only while the read loop runs, so that it happens
	// before Close's Wait; a connection that has ended needs no ABORT.
	c.mu.Lock()
	ended := c.err != nil
	if !ended {
		c.bg.Add(1)
	}
	c.mu.Unlock()
	if !ended {
		go func() {
			defer c.bg.Done()
			_ = c.write(net.Buffers{AppendRecord(nil, TypeAbortRequest, r.id, nil)})
		}()
	}
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
	return e
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
