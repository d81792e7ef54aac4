package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestSlowlorisParamsTimeout: a client that dribbles its PARAMS one byte
// at a time is cut off ParamsTimeout after its BEGIN, with one log line,
// while another connection is served meanwhile.
func TestSlowlorisParamsTimeout(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "tcp", HandlerFunc(echo), func(s *Server) { s.ParamsTimeout = 300 * time.Millisecond })
	slow := h.raw(t)
	slow.send(AppendBeginRequest(nil, 1, RoleResponder, FlagKeepConn))
	params := rawRec(TypeParams, 1, rawPair("SLOW", strings.Repeat("x", 100), false), 0)
	// dribbling waits for the goroutine that sends one byte at a time.
	var dribbling sync.WaitGroup
	dribbling.Add(1)
	stop := make(chan struct{})
	go func() {
		defer dribbling.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for _, b := range params {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); dribbling.Wait() }()
	good := h.client(t)
	var out bytes.Buffer
	if _, err := good.Do(context.Background(), &ClientRequest{Stdin: strings.NewReader("served")}, &out, nil); err != nil || out.String() != "served" {
		t.Fatalf("other connection: got %q, %v, want \"served\", nil", out.String(), err)
	}
	slow.expectEOF()
	if got := h.log.lines("params not complete in time"); len(got) != 1 {
		t.Errorf("got log %q, want one line", got)
	}
}

// TestIdleTimeout: a connection with no request in progress is closed
// after IdleTimeout; one with a running request is not.
func TestIdleTimeout(t *testing.T) {
	checkNoLeak(t)
	release := make(chan struct{})
	h := newHarness(t, "tcp", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.Params["WAIT"] != "" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return 0
	}), func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	busy := h.raw(t)
	busy.send(begin(1, RoleResponder, true, "WAIT", "1"), rawRec(TypeStdin, 1, nil, 0))
	idle := h.raw(t)
	idle.expectEOF()
	// The busy one outlived the idle one's timeout and still completes.
	close(release)
	resp := busy.responses(1)
	if resp[1] == nil || resp[1].end.ProtocolStatus != StatusRequestComplete {
		t.Fatalf("busy connection: got %+v, want its request completed", resp[1])
	}
}

// TestIdleTimeoutAfterKeepConnRequest: the read loop armed the idle
// deadline only before it waited for the next record; a request that came
// in one write was still running then, and nothing armed it once the
// request finished, so the idle connection stayed open for ever.
func TestIdleTimeoutAfterKeepConnRequest(t *testing.T) {
	checkNoLeak(t)
	const idle = 200 * time.Millisecond
	stdinRead, release := make(chan struct{}), make(chan struct{})
	logs := &syncBuffer{}
	srv := &Server{
		Handler: HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			io.Copy(io.Discard, req.Stdin)
			close(stdinRead)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return 0
		}),
		IdleTimeout: idle,
		Logger:      hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	}
	cc, sc := connPair(t)
	watched := &readWatchConn{Conn: sc}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), watched)
	}()
	t.Cleanup(func() {
		srv.Close()
		recv(t, "ServeConn to return", served)
	})
	c := &rawConn{t: t, Conn: cc, br: bufio.NewReader(cc)}
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	recv(t, "the handler to read its stdin", stdinRead)
	// Every byte sent is read: a Read in progress waits for the next record.
	waitFor(t, "the read loop to wait for the next record", func() bool { return watched.reading.Load() == 1 })
	close(release)
	if r := c.responses(1)[1]; r.end != (EndRequest{}) {
		t.Fatalf("got %+v, want {0 REQUEST_COMPLETE}", r.end)
	}
	c.expectEOFWithin(idle + 5*time.Second)
	if got := logs.lines("idle connection closed"); len(got) != 1 {
		t.Errorf("got log %q, want one idle line", got)
	}
}

func TestWriteTimeout(t *testing.T) {
	causes := make(chan error, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := req.Stdout.Write(chunk); err != nil {
				break
			}
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return 0
	}), func(s *Server) { s.WriteTimeout = 50 * time.Millisecond })
	c := h.raw(t) // never reads
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	cause := recv(t, "cause", causes)
	var ne interface{ Timeout() bool }
	if !errors.As(cause, &ne) || !ne.Timeout() {
		t.Errorf("got cause %v, want a write timeout", cause)
	}
	if got := h.log.lines("client stopped reading"); len(got) != 1 {
		t.Errorf("got log %q, want one line", got)
	}
}

func TestBackPressure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newInStream(ctx, 12, false)
	connDone := make(chan struct{})
	if !s.push(connDone, nil, []byte("0123456789abcdef")) {
		t.Fatal("push to an empty queue: got false, want true")
	}
	pushed := make(chan bool, 1)
	go func() { pushed <- s.push(connDone, nil, []byte("xyz")) }()
	select {
	case <-pushed:
		t.Fatal("push past the limit returned before any read, want it to wait")
	case <-time.After(20 * time.Millisecond):
	}
	buf := make([]byte, 8)
	if n, err := s.Read(buf); n != 8 || err != nil {
		t.Fatalf("got %d, %v, want 8, nil", n, err)
	}
	if !recv(t, "push", pushed) {
		t.Error("push: got false, want true")
	}
	s.push(connDone, nil, nil)
	rest, err := io.ReadAll(s)
	if string(rest) != "89abcdefxyz" || err != nil {
		t.Errorf("got %q, %v, want \"89abcdefxyz\", nil", rest, err)
	}

	// A full queue and a dying connection: push gives up.
	s = newInStream(ctx, 1, false)
	s.push(connDone, nil, []byte("ab"))
	go func() { pushed <- s.push(connDone, nil, []byte("c")) }()
	close(connDone)
	if recv(t, "push", pushed) {
		t.Error("push on a dead connection: got true, want false")
	}
	// A cancelled request: Read fails with the cause, queued data or not.
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	s = newInStream(ctx2, 100, false)
	s.push(nil, nil, []byte("data"))
	cancel2(ErrAborted)
	if _, err := s.Read(buf); err != ErrAborted {
		t.Errorf("Read after cancel: got %v, want %v", err, ErrAborted)
	}
}
