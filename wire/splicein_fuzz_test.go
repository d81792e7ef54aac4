package wire

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// socketPair is a connected unix socket pair: the server's end as a
// net.Conn that splice can read, the client's as a file.
func socketPair(t *testing.T) (server net.Conn, client *os.File) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf := os.NewFile(uintptr(fds[0]), "server")
	defer sf.Close()
	server, err = net.FileConn(sf)
	if err != nil {
		t.Fatal(err)
	}
	return server, os.NewFile(uintptr(fds[1]), "client")
}

// spliceFeeder is a handler that feeds its body into a pipe as the
// gateway does, and counts the bytes that came out of the pipe.
func spliceFeeder(max int64) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		pr, pw, err := os.Pipe()
		if err != nil {
			return 1
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			io.Copy(io.Discard, pr)
			pr.Close()
		}()
		if _, err := feedLoop(req, pw, max); err != nil {
			req.Stdin.CloseRead()
		}
		pw.Close()
		<-drained
		return 0
	})
}

// FuzzSpliceStdin: whatever a client sends, a server whose handlers
// splice their bodies returns once the client has sent it all and gone,
// with every request ended: the splice path's skipping and short reads
// keep no request, goroutine or stall behind.
func FuzzSpliceStdin(f *testing.F) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	f.Add(cat(begin(1, RoleResponder, false), stdinRecords(1, patterned(200000), []int{1, 65535, 7, 3000}, []int{0, 255, 1}), rawRec(TypeStdin, 1, nil, 0)), uint32(1<<30))
	f.Add(cat(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, patterned(65535), 1), begin(2, RoleResponder, true),
		rawRec(TypeStdin, 2, []byte("x"), 0), rawRec(TypeAbortRequest, 1, nil, 0), rawRec(TypeStdin, 2, nil, 0), rawRec(TypeStdin, 1, []byte("late"), 0)), uint32(100))
	f.Add(cat(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, patterned(65535), 255)[:30000]), uint32(70000))
	f.Fuzz(func(t *testing.T, in []byte, max uint32) {
		sc, cc := socketPair(t)
		defer cc.Close()
		srv := &Server{Handler: spliceFeeder(int64(max)), MaxParamsBytes: 4096, MaxBodyBuffer: 64}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeConn(context.Background(), sc)
		}()
		// The client sends it all and stops sending, reading what comes
		// back so that the server never waits on its writes.
		go io.Copy(io.Discard, cc)
		cc.Write(in)
		unix.Shutdown(int(cc.Fd()), unix.SHUT_WR)
		endsClean(t, srv, done)
	})
}
