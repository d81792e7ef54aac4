package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
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

// TestDelay: output kept back by Delay goes out with the end of the
// request, in order with later Writes, or alone once its time is up.
func TestDelay(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	t.Run("with the end of the request", func(t *testing.T) {
		h.set(HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			// An hour: only the request's end can send it in time.
			req.Stdout.Delay([]byte("last words"), time.Hour)
			req.Stderr.Delay([]byte("a warning"), time.Hour)
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
			req.Stdout.Delay([]byte("a"), time.Hour)
			req.Stdout.Delay([]byte("b"), time.Hour)
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
			req.Stdout.Delay([]byte("early"), 10*time.Millisecond)
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

// cost returns the unread bytes of s and the capacity of the buffers that
// hold them: the memory the stream costs.
func (s *inStream) cost() (queued, held int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.chunks {
		held += cap(*c.buf)
	}
	return s.queued, held
}

// TestOneByteStdinRecordsAreBoundedByBytesHeld: nginx with
// fastcgi_request_buffering off forwards a slow client's body as it comes,
// in records of a byte or so. Each took a whole 64 KiB buffer while only
// its byte counted against MaxBodyBuffer, so 50,000 of them, to a script
// that does not read its body, held 3 GiB. The buffers held must stay
// within the bytes queued plus two buffers (the read part of the first and
// the free room in the last), and all go back when the request ends.
func TestOneByteStdinRecordsAreBoundedByBytesHeld(t *testing.T) {
	const limit = 64 << 10
	streams := make(chan *inStream, 1)
	release := make(chan struct{})
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		streams <- req.Stdin.(*inStream)
		select { // never reads its body
		case <-release:
		case <-ctx.Done():
		}
		return 0
	}), func(s *Server) { s.MaxBodyBuffer = limit })
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	s := recv(t, "the handler", streams)
	// Up to the limit and no further, so the read loop never waits.
	const batch = 1024
	records := bytes.Repeat(rawRec(TypeStdin, 1, []byte{'x'}, 7), batch)
	for sent := batch; sent <= limit; sent += batch {
		c.send(records)
		waitFor(t, "the batch to be queued", func() bool {
			queued, _ := s.cost()
			return queued == sent
		})
		if _, held := s.cost(); held > sent+2*MaxContent {
			t.Fatalf("%d one-byte records queued: got %d bytes of buffers held, want at most %d", sent, held, sent+2*MaxContent)
		}
	}
	close(release)
	c.responses(1)
	if queued, held := s.cost(); queued != 0 || held != 0 {
		t.Errorf("after the request: got %d bytes queued in %d held, want none", queued, held)
	}
}

// TestPushCoalesces: records of any size, split over the free room of the
// last buffer and a fresh one, read back in order, and the memory held
// stays within the bytes queued plus two buffers.
func TestPushCoalesces(t *testing.T) {
	s := newInStream(context.Background(), 1<<20, false)
	var want, got []byte
	buf := make([]byte, 5000)
	for i, n := range []int{1, 7, 1000, MaxContent, 3, 65000, 60000, 1, MaxContent, 12345} {
		rec := bytes.Repeat([]byte{byte('a' + i)}, n)
		if !s.push(nil, nil, rec) {
			t.Fatalf("push %d: got false, want true", i)
		}
		want = append(want, rec...)
		if i%2 == 1 { // read some, so the first buffer is partly read
			m, err := s.Read(buf)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got = append(got, buf[:m]...)
		}
		if queued, held := s.cost(); held > queued+2*MaxContent {
			t.Fatalf("after push %d: got %d bytes held for %d queued, want at most %d", i, held, queued, queued+2*MaxContent)
		}
	}
	s.push(nil, nil, nil)
	rest, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if got = append(got, rest...); !bytes.Equal(got, want) {
		t.Errorf("got %d bytes back, want the %d pushed, in order", len(got), len(want))
	}
	if queued, held := s.cost(); queued != 0 || held != 0 {
		t.Errorf("after reading all: got %d queued, %d held, want none", queued, held)
	}
}
