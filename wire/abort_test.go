package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestAbort(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		io.WriteString(req.Stdout, "started")
		<-ctx.Done()
		causes <- context.Cause(ctx)
		if _, err := req.Stdin.Read(make([]byte, 1)); !errors.Is(err, ErrAborted) {
			t.Errorf("Stdin.Read after abort: got %v, want %v", err, ErrAborted)
		}
		return 7
	}), nil)
	cl := h.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe() // a body that never ends
	defer pw.Close()
	out := &notifyWriter{ch: make(chan struct{}, 1)}
	go func() {
		recv(t, "output", out.ch)
		cancel()
	}()
	e, err := cl.Do(ctx, &ClientRequest{KeepConn: true, Stdin: pr}, out, nil)
	pw.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do: got %v, want %v", err, context.Canceled)
	}
	if e != (EndRequest{AppStatus: 7}) {
		t.Errorf("got %+v, want {7 REQUEST_COMPLETE}", e)
	}
	if c := recv(t, "cause", causes); c != ErrAborted {
		t.Errorf("got cause %v, want %v", c, ErrAborted)
	}
	// The connection is still good.
	var buf bytes.Buffer
	h.set(echo)
	if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Stdin: strings.NewReader("again")}, &buf, nil); err != nil || buf.String() != "again" {
		t.Errorf("after abort: got %q, %v, want \"again\", nil", buf.String(), err)
	}
}

// notifyWriter signals once its first Write arrived.
type notifyWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func TestAbortDuringParams(t *testing.T) {
	called := make(chan struct{}, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		called <- struct{}{}
		return 0
	}), nil)
	c := h.raw(t)
	c.send(AppendBeginRequest(nil, 1, RoleResponder, FlagKeepConn), rawRec(TypeParams, 1, rawPair("A", "b", false), 0),
		rawRec(TypeAbortRequest, 1, nil, 0))
	r := c.responses(1)[1]
	if r.end != (EndRequest{}) || len(r.stdout) != 0 {
		t.Errorf("got %+v, want only END_REQUEST {0 REQUEST_COMPLETE}", r)
	}
	// Stray PARAMS the client had in flight are dropped; the ID can be reused.
	h.set(echo)
	c.send(rawRec(TypeParams, 1, rawPair("C", "d", false), 0), begin(1, RoleResponder, true),
		rawRec(TypeStdin, 1, []byte("ok"), 0), rawRec(TypeStdin, 1, nil, 0))
	if r := c.responses(1)[1]; string(r.stdout) != "ok" {
		t.Errorf("reused ID: got %q, want \"ok\"", r.stdout)
	}
	select {
	case <-called:
		t.Error("got the aborted request handled, want it never started")
	default:
	}
	if w := h.log.lines("[WARN]"); len(w) != 0 {
		t.Errorf("got warnings %q, want none", w)
	}
}

func TestConnCloseCancels(t *testing.T) {
	checkNoLeak(t)
	started := make(chan struct{}, 2)
	causes := make(chan error, 2)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true), begin(2, RoleResponder, true))
	recv(t, "first handler", started)
	recv(t, "second handler", started)
	c.Close()
	for range 2 {
		if got := recv(t, "cause", causes); got != ErrConnClosed {
			t.Errorf("got cause %v, want %v", got, ErrConnClosed)
		}
	}
	waitFor(t, "stats to drop to zero", func() bool { return h.srv.Stats() == ServerStats{} })
}

// TestHangupWhileStalled: the read loop is stalled by a handler that does not
// read its body; the client closing the connection still cancels it.
func TestHangupWhileStalled(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	h := newHarness(t, "unix", blockUntilCancelled(causes), func(s *Server) { s.MaxBodyBuffer = 1000 })
	c := h.raw(t)
	chunk := make([]byte, 1000)
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, chunk, 0), rawRec(TypeStdin, 1, chunk, 0), rawRec(TypeStdin, 1, chunk, 0))
	waitFor(t, "the request", func() bool { return h.srv.Stats().Requests == 1 })
	c.Close()
	if got := recv(t, "cause", causes); got != ErrConnClosed {
		t.Errorf("got cause %v, want %v", got, ErrConnClosed)
	}
	waitFor(t, "the connection to go", func() bool { return h.srv.Stats() == ServerStats{} })
}

func TestWriteAfterReturn(t *testing.T) {
	leaked := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		leaked <- req
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, nil, 0))
	c.responses(1)
	req := recv(t, "request", leaked)
	for _, w := range []io.Writer{req.Stdout, req.Stderr} {
		if _, err := w.Write([]byte("late")); err != errStreamClosed {
			t.Errorf("got %v, want %v", err, errStreamClosed)
		}
	}
	c.expectEOF()
}
