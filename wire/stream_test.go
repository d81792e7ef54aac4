package wire

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCloseReadUnblocksReaderAndWriter: after CloseRead a Read waiting for
// data returns at once, and a push that would have waited for room drops
// its data instead, so neither the handler nor the read loop can hang on a
// stream nobody consumes.
func TestCloseReadUnblocksReaderAndWriter(t *testing.T) {
	s := newInStream(context.Background(), 4, false)
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 8))
		readErr <- err
	}()
	if !s.push(nil, nil, []byte("abcd")) {
		t.Fatal("first push failed")
	}
	if err := <-readErr; err != nil {
		t.Fatalf("got %v reading queued data, want nil", err)
	}
	go func() {
		_, err := s.Read(make([]byte, 8))
		readErr <- err
	}()
	s.push(nil, nil, []byte("efgh"))
	s.push(nil, nil, []byte("ijkl")) // queue now full for a limit of 4... unless already read
	pushed := make(chan bool, 1)
	go func() { pushed <- s.push(nil, nil, []byte("mnop")) }()
	s.CloseRead()
	select {
	case ok := <-pushed:
		if !ok {
			t.Fatal("push after CloseRead reported a dead connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("push still waiting 10s after CloseRead")
	}
	// The reader got either data pushed before CloseRead or the close.
	if err := <-readErr; err != nil && !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("got %v, want nil or ErrStreamClosed", err)
	}
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("got %v reading after CloseRead, want ErrStreamClosed", err)
	}
}

// TestAtEOF: a stream is at EOF only once its empty record has come and
// everything before it has been read; a cancelled or closed one is not, as
// its Read fails instead.
func TestAtEOF(t *testing.T) {
	s := newInStream(context.Background(), 1<<20, false)
	if s.AtEOF() {
		t.Fatal("fresh stream: got AtEOF, want not")
	}
	s.push(nil, nil, []byte("ab"))
	s.push(nil, nil, nil)
	if s.AtEOF() {
		t.Fatal("ended stream with 2 bytes unread: got AtEOF, want not")
	}
	if n, err := s.Read(make([]byte, 8)); n != 2 || err != nil {
		t.Fatalf("got %d, %v, want 2, nil", n, err)
	}
	if !s.AtEOF() {
		t.Fatal("ended and read stream: got not AtEOF, want AtEOF")
	}

	ctx, cancel := context.WithCancel(context.Background())
	s = newInStream(ctx, 1<<20, true)
	if !s.AtEOF() {
		t.Fatal("stream born ended (AUTHORIZER): got not AtEOF, want AtEOF")
	}
	cancel()
	if s.AtEOF() {
		t.Fatal("cancelled stream: got AtEOF, want not")
	}
	s = newInStream(context.Background(), 1<<20, true)
	s.CloseRead()
	if s.AtEOF() {
		t.Fatal("stream after CloseRead: got AtEOF, want not")
	}
}

// delayer is what a handler asserts Stdout to for Delay.
type delayer interface {
	Delay(p []byte, d time.Duration) (int, error)
}

// TestDelay: output kept back by Delay goes out with the end of the
// request, in order with later Writes, or alone once its time is up.
func TestDelay(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	t.Run("with the end of the request", func(t *testing.T) {
		h.set(HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			// An hour: only the request's end can send it in time.
			req.Stdout.(delayer).Delay([]byte("last words"), time.Hour)
			req.Stderr.(delayer).Delay([]byte("a warning"), time.Hour)
			return 3
		}))
		c := h.raw(t)
		c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
		r := c.responses(1)[1]
		if string(r.stdout) != "last words" || string(r.stderr) != "a warning" || r.end.AppStatus != 3 {
			t.Errorf("got stdout %q, stderr %q, %+v; want \"last words\", \"a warning\", appStatus 3", r.stdout, r.stderr, r.end)
		}
		if !r.stdoutEnded || !r.stderrEnded {
			t.Error("a stream was not ended")
		}
	})
	t.Run("before a later write", func(t *testing.T) {
		h.set(HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			d := req.Stdout.(delayer)
			d.Delay([]byte("a"), time.Hour)
			d.Delay([]byte("b"), time.Hour)
			req.Stdout.Write([]byte("c"))
			return 0
		}))
		c := h.raw(t)
		c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
		if r := c.responses(1)[1]; string(r.stdout) != "abc" {
			t.Errorf("got %q, want \"abc\"", r.stdout)
		}
	})
	t.Run("alone once its time is up", func(t *testing.T) {
		received := make(chan struct{})
		h.set(HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			req.Stdout.(delayer).Delay([]byte("early"), 10*time.Millisecond)
			// The handler goes on; only the timer can send it now.
			select {
			case <-received:
			case <-ctx.Done():
			}
			return 0
		}))
		c := h.raw(t)
		c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
		if rec := c.next(); rec.Type != TypeStdout || string(rec.Content) != "early" {
			t.Fatalf("got %s %q while the handler still runs, want STDOUT \"early\"", rec.Type, rec.Content)
		}
		close(received)
		if r := c.responses(1)[1]; len(r.stdout) != 0 || !r.stdoutEnded {
			t.Errorf("after the early output: got %q, ended %v; want only the stream's end", r.stdout, r.stdoutEnded)
		}
	})
}
