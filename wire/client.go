package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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
			res.err = eachPair(string(rec.Content), func(name, value string) {
				res.m[name] = value
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
	if r != nil && rec.Type == TypeEndRequest && !c.replyLocked(r) {
		r = nil // a second END_REQUEST: the first ended the request
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

// releaseLocked drops one reference to r's ID; the last frees the ID.
func (c *Client) releaseLocked(r *clientReq) {
	if r.refs--; r.refs == 0 {
		delete(c.reqs, r.id)
	}
}

// replyLocked drops the reply's reference to r's ID, once: it reports
// false if it was dropped already, by an earlier END_REQUEST (a server
// may send two) or by Do, whose head could not be sent.
func (c *Client) replyLocked(r *clientReq) bool {
	if r.replied {
		return false
	}
	r.replied = true
	c.releaseLocked(r)
	return true
}

// register assigns a free request ID to r, with a reference for the reply
// and, if body, one for the body sender, whose goroutine it adds to bg:
// the caller then starts it or calls bg.Done. Both are taken before the
// head leaves, as the reply (and the connection's end) may be read before
// Do goes on: a reference taken after would follow the reply's release.
func (c *Client) register(r *clientReq, body bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.connErr()
	}
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, busy := c.reqs[c.nextID]; !busy {
			r.id, r.refs = c.nextID, 1
			if body {
				r.refs++
				// Under mu while the read loop runs, so it happens before
				// Close's Wait.
				c.bg.Add(1)
			}
			c.reqs[r.id] = r
			return nil
		}
	}
	return errNoIDs
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
