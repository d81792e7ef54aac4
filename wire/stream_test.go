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
