package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientBigParams(t *testing.T) {
	got := make(chan map[string]string, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		got <- req.Params
		return 0
	}), func(s *Server) { s.MaxParamsBytes = 1 << 20 })
	big := strings.Repeat("b", 200000) // one pair across four PARAMS records
	params := []Pair{{"A", "1"}, {"BIG", big}, {"Z", "26"}}
	if _, err := h.client(t).Do(context.Background(), &ClientRequest{Params: params}, nil, nil); err != nil {
		t.Fatal(err)
	}
	p := recv(t, "params", got)
	if p["A"] != "1" || p["BIG"] != big || p["Z"] != "26" || len(p) != 3 {
		t.Errorf("got %d params (BIG %d bytes), want A=1, BIG of %d, Z=26", len(p), len(p["BIG"]), len(big))
	}
}

func TestClientConcurrent(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		b, _ := io.ReadAll(req.Stdin)
		req.Stdout.Write(b)
		fmt.Fprintf(req.Stderr, "err %s", req.Params["N"])
		return uint32(len(b))
	}), nil)
	cl := h.client(t)
	var wg sync.WaitGroup // waits for the requests
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte('a' + i)}, 1000*i+1)
			var out, errOut bytes.Buffer
			e, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Params: []Pair{{"N", fmt.Sprint(i)}}, Stdin: bytes.NewReader(body)}, &out, &errOut)
			if err != nil || e.AppStatus != uint32(len(body)) {
				t.Errorf("request %d: got %+v, %v, want appStatus %d", i, e, err, len(body))
			}
			if !bytes.Equal(out.Bytes(), body) || errOut.String() != fmt.Sprintf("err %d", i) {
				t.Errorf("request %d: got %d bytes, stderr %q, want %d bytes, %q", i, out.Len(), errOut.String(), len(body), fmt.Sprintf("err %d", i))
			}
		}()
	}
	wg.Wait()
}

func TestClientFilter(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		in, _ := io.ReadAll(req.Stdin)
		data, _ := io.ReadAll(req.Data)
		fmt.Fprintf(req.Stdout, "%s|%s", in, data)
		return 0
	}), nil)
	cl := h.client(t)
	tests := []struct {
		name        string
		stdin, data io.Reader
		want        string
	}{
		{"both", strings.NewReader("in"), strings.NewReader("data"), "in|data"},
		{"data only", nil, strings.NewReader("data"), "|data"},
		{"neither", nil, nil, "|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := cl.Do(context.Background(), &ClientRequest{Role: RoleFilter, KeepConn: true, Stdin: tt.stdin, Data: tt.data}, &out, nil); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// fakeServer runs fn on the server end of a pipe whose other end is a Client.
func fakeServer(t *testing.T, fn func(c net.Conn)) *Client {
	t.Helper()
	srv, cli := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer srv.Close()
		fn(srv)
	}()
	cl := NewClient(cli)
	t.Cleanup(func() {
		cl.Close()
		recv(t, "fake server", done)
	})
	return cl
}

func TestClientConnEnds(t *testing.T) {
	cl := fakeServer(t, func(c net.Conn) {
		// BEGIN_REQUEST, the empty PARAMS, the empty STDIN.
		var rec Record
		for _, want := range []RecType{TypeBeginRequest, TypeParams, TypeStdin} {
			var err error
			if rec, err = ReadRecord(c, nil); err != nil || rec.Type != want {
				t.Errorf("got %v, %v, want %v", rec.Type, err, want)
			}
		}
		c.Write(AppendRecord(nil, TypeStdout, rec.ID, []byte("partial")))
	})
	var out bytes.Buffer
	_, err := cl.Do(context.Background(), &ClientRequest{}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), "connection ended") {
		t.Errorf("got %v, want a connection-ended error", err)
	}
	if out.String() != "partial" {
		t.Errorf("got %q, want \"partial\"", out.String())
	}
	if _, err := cl.Do(context.Background(), &ClientRequest{}, nil, nil); err == nil {
		t.Error("Do on a dead connection: got nil error, want one")
	}
	if _, err := cl.GetValues(context.Background(), MaxConnsName); err == nil {
		t.Error("GetValues on a dead connection: got nil error, want one")
	}
}

func TestClientAfterClose(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	cl := h.client(t)
	if err := cl.Close(); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if _, err := cl.Do(context.Background(), &ClientRequest{}, nil, nil); !errors.Is(err, errClientClosed) {
		t.Errorf("Do after Close: got %v, want %v", err, errClientClosed)
	}
}

func TestClientAbortUnanswered(t *testing.T) {
	old := abortWait
	abortWait = 50 * time.Millisecond
	defer func() { abortWait = old }()
	gotAbort := make(chan struct{})
	cl := fakeServer(t, func(c net.Conn) {
		for {
			rec, err := ReadRecord(c, nil)
			if err != nil {
				return
			}
			if rec.Type == TypeAbortRequest {
				close(gotAbort)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := cl.Do(ctx, &ClientRequest{}, nil, nil)
	if err != context.DeadlineExceeded {
		t.Errorf("got %v, want %v", err, context.DeadlineExceeded)
	}
	recv(t, "ABORT_REQUEST", gotAbort)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestClientBodyError(t *testing.T) {
	causes := make(chan error, 1)
	h := newHarness(t, "unix", blockUntilCancelled(causes), nil)
	boom := errors.New("boom")
	_, err := h.client(t).Do(context.Background(), &ClientRequest{Stdin: errReader{boom}}, nil, nil)
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
	if c := recv(t, "cause", causes); c != ErrAborted {
		t.Errorf("got cause %v, want %v", c, ErrAborted)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestClientStdoutError(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		io.WriteString(req.Stdout, "x")
		return 0
	}), nil)
	_, err := h.client(t).Do(context.Background(), &ClientRequest{}, failWriter{}, nil)
	if err == nil || err.Error() != "disk full" {
		t.Errorf("got %v, want disk full", err)
	}
}

func TestClientGetValuesUnknownType(t *testing.T) {
	cl := fakeServer(t, func(c net.Conn) {
		rec, err := ReadRecord(c, nil)
		if err != nil {
			return
		}
		c.Write(AppendUnknownType(nil, rec.Type))
		io.Copy(io.Discard, c)
	})
	if _, err := cl.GetValues(context.Background(), MaxConnsName); err != errUnknownType {
		t.Errorf("got %v, want %v", err, errUnknownType)
	}
}

// TestClientBodyStillReading: a server that answers before the body ends
// lets Do return even though a Read of the body is blocked; the ID stays
// reserved meanwhile, so the next request gets another one.
func TestClientBodyStillReading(t *testing.T) {
	ids := make(chan uint16, 2)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		ids <- req.ID
		return 0
	}), nil)
	cl := h.client(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Stdin: pr}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := recv(t, "id", ids), recv(t, "id", ids); a == b {
		t.Errorf("got ID %d twice, want distinct IDs while the first body is still read", a)
	}
}

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
