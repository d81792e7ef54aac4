package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pipeHolding returns the read end of a pipe that holds data, large enough
// for all of it, closed when the test ends.
func pipeHolding(t *testing.T, data []byte) int {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]) })
	defer unix.Close(fds[1])
	if _, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, 1<<20); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Write(fds[1], data); err != nil || n != len(data) {
		t.Fatalf("filling the pipe: %d, %v", n, err)
	}
	return fds[0]
}

// TestSpliceFromSendsAlignedRecords: what Delay held goes first, then the
// pipe's bytes as STDOUT records of whole multiples of 8 bytes with no
// padding (the harness checks alignment), and the remainder below 8 stays
// in the pipe for the caller; the client gets every byte in order.
func TestSpliceFromSendsAlignedRecords(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 56000) // more than the socket buffer: the splice waits for the client
	data = append(data, "tail"...)                          // 4 bytes stay behind
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		pipe := pipeHolding(t, data)
		req.Stdout.Delay([]byte("held:"), time.Hour)
		n, err := req.Stdout.SpliceFrom(pipe, len(data))
		if err != nil || n != len(data)-4 {
			t.Errorf("SpliceFrom: got %d, %v; want %d, nil", n, err, len(data)-4)
		}
		rest := make([]byte, 16)
		m, _ := unix.Read(pipe, rest)
		req.Stdout.Write(rest[:m])
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, nil, 0))
	r := c.responses(1)[1]
	if want := append([]byte("held:"), data...); !bytes.Equal(r.stdout, want) {
		t.Errorf("got %d bytes of stdout, want %d, in order", len(r.stdout), len(want))
	}
}

// TestSpliceFromWhereItCannot: on a connection that is not a socket of
// ours, SpliceFrom sends nothing and says so, and the stream still works.
func TestSpliceFromWhereItCannot(t *testing.T) {
	c := servePipe(t, HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		pipe := pipeHolding(t, []byte("12345678"))
		if n, err := req.Stdout.SpliceFrom(pipe, 8); n != 0 || !errors.Is(err, ErrNotSpliceable) {
			t.Errorf("got %d, %v; want 0, ErrNotSpliceable", n, err)
		}
		req.Stdout.Write([]byte("written"))
		return 0
	}))
	go c.Write(append(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, nil, 0)...))
	if r := c.responses(1)[1]; string(r.stdout) != "written" {
		t.Errorf("got stdout %q, want %q", r.stdout, "written")
	}
}

// servePipe serves h on one end of a net.Pipe, a connection that is not a
// socket, until the test ends, and returns a raw client on the other.
func servePipe(t *testing.T, h Handler) *rawConn {
	cc, sc := net.Pipe()
	srv := &Server{Handler: h}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), sc)
	}()
	t.Cleanup(func() {
		cc.Close()
		srv.Close()
		recv(t, "ServeConn to return", served)
	})
	return &rawConn{t: t, Conn: cc, br: bufio.NewReader(cc)}
}
