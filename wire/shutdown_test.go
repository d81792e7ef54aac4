package wire

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestShutdown(t *testing.T) {
	checkNoLeak(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		started <- struct{}{}
		<-release
		io.WriteString(req.Stdout, "done")
		return 0
	}), nil)
	idle := h.raw(t)
	idle.send(rawRec(TypeGetValues, 0, nil, 0))
	idle.next()
	busy := h.raw(t)
	busy.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	recv(t, "handler", started)
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(context.Background()) }()
	idle.expectEOF()
	if err := recv(t, "Serve", h.errc); err != ErrServerClosed {
		t.Errorf("Serve: got %v, want %v", err, ErrServerClosed)
	}
	h.errc <- ErrServerClosed // for the cleanup
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request active, want it to wait", err)
	default:
	}
	close(release)
	if r := busy.responses(1)[1]; string(r.stdout) != "done" {
		t.Errorf("got %q, want \"done\"", r.stdout)
	}
	busy.expectEOF()
	idle.Close() // ends the lingering closes at once
	busy.Close()
	if err := recv(t, "Shutdown", shut); err != nil {
		t.Errorf("Shutdown: got %v, want nil", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	h := newHarness(t, "unix", blockUntilCancelled(causes), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	waitFor(t, "the request", func() bool { return h.srv.Stats().Requests == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.srv.Shutdown(ctx); err != context.Canceled {
		t.Errorf("Shutdown: got %v, want %v", err, context.Canceled)
	}
	if c := recv(t, "cause", causes); c != ErrServerClosed {
		t.Errorf("got cause %v, want %v", c, ErrServerClosed)
	}
	if s := h.srv.Stats(); s != (ServerStats{}) {
		t.Errorf("got %+v after Shutdown, want zero", s)
	}
}

func TestServeContextCloses(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	srv := &Server{Handler: blockUntilCancelled(causes)}
	h := newHarness(t, "unix", nil, nil)
	h.srv.Close()
	recv(t, "Serve", h.errc)
	h.errc <- ErrServerClosed

	ln := listenUnix(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	c := (&harness{net: "unix", addr: ln.Addr().String()}).raw(t)
	c.send(begin(1, RoleResponder, true))
	waitFor(t, "the request", func() bool { return srv.Stats().Requests == 1 })
	cancel()
	if err := recv(t, "Serve", errc); err != ErrServerClosed {
		t.Errorf("Serve: got %v, want %v", err, ErrServerClosed)
	}
	if c := recv(t, "cause", causes); c != ErrServerClosed {
		t.Errorf("got cause %v, want %v", c, ErrServerClosed)
	}
	c.expectEOF()
	if err := srv.Serve(context.Background(), listenUnix(t)); err != ErrServerClosed {
		t.Errorf("Serve after Close: got %v, want %v", err, ErrServerClosed)
	}
}

func TestCloseNoLeak(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.Params["BLOCK"] != "" {
			<-ctx.Done()
			return 0
		}
		return echo(ctx, req)
	}), nil)
	var clients []*Client
	for range 3 {
		cl := h.client(t)
		clients = append(clients, cl)
		var out bytes.Buffer
		if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Stdin: strings.NewReader("x")}, &out, nil); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 3)
	for _, cl := range clients {
		go func() {
			_, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Params: []Pair{{"BLOCK", "1"}}}, nil, nil)
			errs <- err
		}()
	}
	waitFor(t, "3 blocked requests", func() bool { return h.srv.Stats().Requests == 3 })
	h.srv.Close()
	for range 3 {
		if err := recv(t, "Do", errs); err == nil {
			t.Error("Do on a closed server: got nil error, want one")
		}
	}
	if s := h.srv.Stats(); s != (ServerStats{}) {
		t.Errorf("got %+v after Close, want zero", s)
	}
}

// TestShutdownClosesIdleKeepAliveAtOnce: a keep-alive client that never
// closes its idle connection (h2o, nginx's upstream keepalive) must not
// hold Shutdown for the linger time.
func TestShutdownClosesIdleKeepAliveAtOnce(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(echo), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	if resp := c.responses(1); resp[1] == nil {
		t.Fatal("no answer to the first request")
	}
	ctx, cancel := context.WithTimeout(context.Background(), lingerTimeout/2)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("got %v from Shutdown with an idle keep-alive connection open, want nil within %s", err, lingerTimeout/2)
	}
	c.expectEOF()
}
