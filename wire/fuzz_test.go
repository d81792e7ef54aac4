package wire

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// bytesConn is a connection whose input is a fixed byte string and whose
// output is discarded.
type bytesConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

func (c *bytesConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *bytesConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *bytesConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *bytesConn) LocalAddr() net.Addr                { return fakeAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr               { return fakeAddr{} }
func (c *bytesConn) SetDeadline(t time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(t time.Time) error { return nil }

func FuzzServeConn(f *testing.F) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	f.Add(cat(begin(1, RoleResponder, false, "A", "b"), rawRec(TypeStdin, 1, []byte("hello"), 3), rawRec(TypeStdin, 1, nil, 0)))
	f.Add(cat(begin(1, RoleResponder, true), begin(2, RoleResponder, true), rawRec(TypeStdin, 2, []byte("x"), 0),
		rawRec(TypeAbortRequest, 1, nil, 0), rawRec(TypeStdin, 2, nil, 0), rawRec(TypeStdin, 1, []byte("late"), 0)))
	f.Add(cat(AppendBeginRequest(nil, 1, RoleFilter, 1), rawRec(TypeParams, 1, []byte{1, 0x80}, 0), rawRec(TypeParams, 1, []byte{0, 0, 1, 'A', 'b'}, 0),
		rawRec(TypeParams, 1, nil, 0), rawRec(TypeStdin, 1, nil, 0), rawRec(TypeData, 1, []byte("d"), 255), rawRec(TypeData, 1, nil, 0)))
	f.Add(cat(rawRec(TypeGetValues, 0, rawPair(MaxConnsName, "", false), 0), rawRec(77, 0, nil, 0), begin(3, Role(8), true)))
	f.Add(cat(begin(1, RoleAuthorizer, true), rawRec(TypeStdin, 1, []byte("stray"), 0), begin(1, RoleResponder, false)))
	f.Add([]byte{1, 1, 0, 1, 0, 8})
	f.Fuzz(func(t *testing.T, in []byte) {
		srv := &Server{
			Handler: HandlerFunc(func(ctx context.Context, req *Request) uint32 {
				io.Copy(req.Stdout, req.Stdin)
				if req.Data != nil {
					io.Copy(req.Stderr, req.Data)
				}
				return 0
			}),
			MaxParamsBytes: 4096,
			MaxBodyBuffer:  64,
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeConn(context.Background(), &bytesConn{r: bytes.NewReader(in)})
		}()
		endsClean(t, srv, done)
	})
}

// endsClean waits for ServeConn to return (done closes), and checks that
// it left no request or connection counted.
func endsClean(t *testing.T, srv *Server, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("ServeConn did not return")
	}
	if s := srv.Stats(); s != (ServerStats{}) {
		t.Fatalf("got %+v after ServeConn, want zero", s)
	}
	srv.Close()
}

// BenchmarkStdoutWrite measures the output path: 64 KiB writes through a
// server connection (a unix socket pair) to a reader that discards.
func BenchmarkStdoutWrite(b *testing.B) {
	chunk := make([]byte, 64<<10)
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		for range b.N {
			if _, err := req.Stdout.Write(chunk); err != nil {
				b.Error(err)
				return 1
			}
		}
		return 0
	})}
	ln, err := net.Listen("unix", "")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln) }()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := c.Write(begin(1, RoleResponder, false)); err != nil {
		b.Fatal(err)
	}
	// The discarding reader: records are skipped by their headers.
	n, _ := io.Copy(io.Discard, c)
	b.StopTimer()
	if want := int64(b.N * len(chunk)); n < want {
		b.Fatalf("got %d bytes, want at least %d", n, want)
	}
	srv.Close()
	<-errc
}
