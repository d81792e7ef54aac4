package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestDoAbortWhileBodyWriteBlocked: a server that stops reading the body
// leaves the client's body sender blocked in a write holding the write
// lock; cancelling Do must still return (it closes the wedged connection
// after abortWait instead of waiting for the lock for ever).
func TestDoAbortWhileBodyWriteBlocked(t *testing.T) {
	ln := listenUnix(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	conn, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := recv(t, "the accepted connection", accepted)
	defer server.Close() // never reads: the client's writes fill the socket
	old := abortWait
	abortWait = 100 * time.Millisecond
	t.Cleanup(func() { abortWait = old })
	c := NewClient(conn)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	body := &zeroReader{}
	go func() {
		_, err := c.Do(ctx, &ClientRequest{Stdin: io.LimitReader(body, 64<<20)}, io.Discard, io.Discard)
		done <- err
	}()
	// The body sender is stuck once the socket is full: no more reads.
	last := int64(-1)
	waitFor(t, "the body sender to block", func() bool {
		time.Sleep(50 * time.Millisecond)
		n := body.n.Load()
		stuck := n > 0 && n == last
		last = n
		return stuck
	})
	cancel()
	if err := recv(t, "Do to return after cancel", done); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// zeroReader is an endless body that counts what was taken from it.
type zeroReader struct{ n atomic.Int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	clear(p)
	z.n.Add(int64(len(p)))
	return len(p), nil
}

// slowHeadConn is a client's connection whose first Write, the head of the
// first request, returns only once the client's read loop has ended: what
// a Do descheduled right after sending its head sees.
type slowHeadConn struct {
	net.Conn
	client *Client // set before the first Do
	wrote  atomic.Bool
}

func (c *slowHeadConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.wrote.CompareAndSwap(false, true) {
		select {
		case <-c.client.done:
		case <-time.After(waitTimeout):
		}
	}
	return n, err
}

// TestEarlyEndRequestBeforeBodySender: Do registered the body sender (and
// took its reference to the request ID) only after the head was written.
// A server that answers at once, before reading the body (a 413), and
// closes could be read in between: the answer was lost as "connection
// ended before the reply", and the reply's release of the ID came before
// the sender took its reference, so the ID was freed under it.
func TestEarlyEndRequestBeforeBodySender(t *testing.T) {
	checkNoLeak(t)
	for i := range 100 {
		cc, sc := connPair(t)
		served := make(chan struct{})
		go func() {
			defer close(served)
			defer sc.Close()
			for {
				rec, err := ReadRecord(sc, nil)
				if err != nil {
					return
				}
				if rec.Type == TypeParams && len(rec.Content) == 0 {
					sc.Write(AppendEndRequest(nil, rec.ID, EndRequest{AppStatus: 413}))
					return
				}
			}
		}()
		conn := &slowHeadConn{Conn: cc}
		cl := NewClient(conn)
		conn.client = cl
		e, err := cl.Do(context.Background(), &ClientRequest{Stdin: io.LimitReader(&zeroReader{}, 1<<20)}, nil, nil)
		cl.Close()
		recv(t, "the server", served)
		if err != nil || e.AppStatus != 413 {
			t.Fatalf("iteration %d: got %+v, %v, want appStatus 413, nil", i, e, err)
		}
	}
}

// TestDuplicateEndRequestReleasesIDOnce: each END_REQUEST released a
// reference to its request ID, so a server that sends two freed the ID
// while the body sender still sent STDIN on it, for a later request to
// reuse.
func TestDuplicateEndRequestReleasesIDOnce(t *testing.T) {
	headA := make(chan struct{})
	cl := fakeServer(t, func(c net.Conn) {
		read := func(n int) bool {
			for range n {
				if _, err := ReadRecord(c, nil); err != nil {
					t.Errorf("reading a request's head: %v", err)
					return false
				}
			}
			return true
		}
		if !read(2) { // A's BEGIN and empty PARAMS
			return
		}
		close(headA)
		if !read(3) { // B's BEGIN, empty PARAMS and empty STDIN
			return
		}
		var b []byte
		for _, id := range []uint16{1, 1, 2} {
			b = AppendEndRequest(b, id, EndRequest{AppStatus: uint32(id)})
		}
		c.Write(b)
		io.Copy(io.Discard, c)
	})
	body, bodyW := io.Pipe()
	defer bodyW.Close()
	type result struct {
		e   EndRequest
		err error
	}
	do := func(req *ClientRequest) <-chan result {
		ch := make(chan result, 1)
		go func() {
			e, err := cl.Do(context.Background(), req, nil, nil)
			ch <- result{e, err}
		}()
		return ch
	}
	doneA := do(&ClientRequest{KeepConn: true, Stdin: body})
	recv(t, "A's head", headA)
	doneB := do(&ClientRequest{KeepConn: true})
	for status, ch := range map[uint32]<-chan result{1: doneA, 2: doneB} {
		if r := recv(t, "Do", ch); r.err != nil || r.e.AppStatus != status {
			t.Fatalf("request %d: got %+v, %v, want appStatus %d, nil", status, r.e, r.err, status)
		}
	}
	// B's END_REQUEST came after both of A's: both were read.
	cl.mu.Lock()
	held := cl.reqs[1] != nil
	cl.mu.Unlock()
	if !held {
		t.Fatal("ID 1 free while its body sender still runs, want it held until the sender stops")
	}
	bodyW.Close()
	waitFor(t, "the body sender to release ID 1", func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return len(cl.reqs) == 0
	})
}
