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
