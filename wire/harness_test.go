package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

// waitTimeout bounds every wait in these tests; a hang fails instead.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it holds, or fails the test.
var waitFor = testutil.WaitFor

// recv receives from ch or fails after waitTimeout.
func recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// syncBuffer is a log sink that the test may read while the server writes.
type syncBuffer struct{ testutil.SyncBuffer }

// lines returns the log lines that contain s.
func (b *syncBuffer) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// swapHandler lets a test change the handler while the server runs.
type swapHandler struct{ h atomic.Pointer[Handler] }

func (s *swapHandler) ServeFCGI(ctx context.Context, req *Request) uint32 {
	return (*s.h.Load()).ServeFCGI(ctx, req)
}

type harness struct {
	handler swapHandler
	srv     *Server
	net     string
	addr    string
	log     *syncBuffer
	errc    chan error // Serve's result
}

// newHarness serves h on a fresh listener ("unix" or "tcp") and closes the
// server when the test ends.
func newHarness(t *testing.T, network string, h Handler, configure func(*Server)) *harness {
	t.Helper()
	var ln net.Listener
	var err error
	switch network {
	case "unix":
		// t.TempDir paths can pass the 108-byte limit of socket paths.
		dir, derr := os.MkdirTemp("", "wire")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		ln, err = net.Listen("unix", filepath.Join(dir, "s"))
	default:
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	hs := &harness{
		srv: &Server{
			Handler: h,
			Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		},
		net:  network,
		addr: ln.Addr().String(),
		log:  logs,
		errc: make(chan error, 1),
	}
	hs.set(h)
	hs.srv.Handler = &hs.handler
	if configure != nil {
		configure(hs.srv)
	}
	go func() { hs.errc <- hs.srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		hs.srv.Close()
		if err := recv(t, "Serve to return", hs.errc); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: got %v, want %v", err, ErrServerClosed)
		}
	})
	return hs
}

func (h *harness) set(handler Handler) { h.handler.h.Store(&handler) }

func (h *harness) client(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(context.Background(), h.net, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn is a client that speaks hand-built bytes.
type rawConn struct {
	t *testing.T
	net.Conn
	br *bufio.Reader
}

func (h *harness) raw(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.Dial(h.net, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(bs ...[]byte) {
	c.t.Helper()
	if _, err := c.Write(bytes.Join(bs, nil)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads one record (content copied), failing on error or timeout.
func (c *rawConn) next() Record {
	c.t.Helper()
	rec, err := c.tryNext()
	if err != nil {
		c.t.Fatalf("reading a record: %v", err)
	}
	return rec
}

func (c *rawConn) tryNext() (Record, error) {
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	rec, err := ReadRecord(c.br, nil)
	rec.Content = append([]byte(nil), rec.Content...)
	return rec, err
}

// response is what a raw client collected for one request.
type response struct {
	stdout, stderr []byte
	stdoutEnded    bool
	stderrEnded    bool
	end            EndRequest
}

// responses reads records until n END_REQUESTs arrived, checking that no
// record follows the END_REQUEST of its ID and that output is 8-aligned.
func (c *rawConn) responses(n int) map[uint16]*response {
	c.t.Helper()
	out := make(map[uint16]*response)
	ended := 0
	for ended < n {
		rec := c.next()
		if (int(rec.ContentLength)+int(rec.PaddingLength))%8 != 0 {
			c.t.Errorf("%s record of %d bytes has padding %d: not 8-aligned", rec.Type, rec.ContentLength, rec.PaddingLength)
		}
		r := out[rec.ID]
		if r == nil {
			r = &response{}
			out[rec.ID] = r
		}
		switch rec.Type {
		case TypeStdout:
			if r.stdoutEnded {
				c.t.Errorf("request %d: STDOUT after its end", rec.ID)
			}
			r.stdout = append(r.stdout, rec.Content...)
			r.stdoutEnded = len(rec.Content) == 0
		case TypeStderr:
			if r.stderrEnded {
				c.t.Errorf("request %d: STDERR after its end", rec.ID)
			}
			r.stderr = append(r.stderr, rec.Content...)
			r.stderrEnded = len(rec.Content) == 0
		case TypeEndRequest:
			e, err := ParseEndRequest(rec.Content)
			if err != nil {
				c.t.Fatal(err)
			}
			r.end = e
			ended++
		default:
			c.t.Fatalf("unexpected %s record for %d", rec.Type, rec.ID)
		}
	}
	return out
}

// expectEOF reads until the server closes the connection, failing if a
// record or a timeout comes first.
func (c *rawConn) expectEOF() {
	c.t.Helper()
	c.expectEOFWithin(waitTimeout)
}

// expectEOFWithin is expectEOF with a deadline of d.
func (c *rawConn) expectEOFWithin(d time.Duration) {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("got byte %#x, want EOF", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("got no EOF within %s, want the server to close the connection", d)
	}
}

// begin builds BEGIN_REQUEST plus the given params in one record and the
// empty PARAMS record: what nginx sends.
func begin(id uint16, role Role, keep bool, kv ...string) []byte {
	var flags uint8
	if keep {
		flags = FlagKeepConn
	}
	b := AppendBeginRequest(nil, id, role, flags)
	var p []byte
	for i := 0; i+1 < len(kv); i += 2 {
		p = append(p, rawPair(kv[i], kv[i+1], false)...)
	}
	if len(p) > 0 {
		b = append(b, rawRec(TypeParams, id, p, padLen(len(p)))...)
	}
	return append(b, rawRec(TypeParams, id, nil, 0)...)
}

// checkNoLeak fails if goroutines started after base are still running once
// the test's cleanups ran.
func checkNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Fatalf("got %d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), base, buf[:n])
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// echo is a handler that copies Stdin to Stdout and returns 0.
var echo = HandlerFunc(func(ctx context.Context, req *Request) uint32 {
	if _, err := io.Copy(req.Stdout, req.Stdin); err != nil {
		return 1
	}
	return 0
})

func listenUnix(t *testing.T) net.Listener {
	t.Helper()
	dir, err := os.MkdirTemp("", "wire")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// blockUntilCancelled is a handler that waits for its request's end and
// reports why it ended.
func blockUntilCancelled(causes chan<- error) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return 0
	})
}

// readWatchConn counts the Reads in progress on a connection, so that a
// test can tell when the read loop waits for a record that is not coming.
type readWatchConn struct {
	net.Conn
	reading atomic.Int32
}

func (c *readWatchConn) Read(p []byte) (int, error) {
	c.reading.Add(1)
	defer c.reading.Add(-1)
	return c.Conn.Read(p)
}

// connPair returns both ends of a fresh unix socket connection, closed when
// the test ends.
func connPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln := listenUnix(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
		}
		accepted <- c
	}()
	client, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = recv(t, "the accepted connection", accepted)
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
