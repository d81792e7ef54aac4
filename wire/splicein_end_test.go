package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSpliceToPipeGoneDropsTheRestOfItsRecord: when the script stops
// reading and closes its end mid-record, SpliceTo returns the pipe's
// error, the rest of the body is dropped, and the connection stays in
// step: the next request on it is served.
func TestSpliceToPipeGoneDropsTheRestOfItsRecord(t *testing.T) {
	errs := make(chan error, 1)
	ready := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if answerNext(req) {
			return 0
		}
		pr, pw, _ := os.Pipe()
		defer pw.Close()
		go func() {
			// A script that reads a little and goes.
			io.ReadFull(pr, make([]byte, 1000))
			pr.Close()
		}()
		ready <- req
		_, err := req.Stdin.SpliceTo(pw, 1<<40, nil)
		req.Stdin.CloseRead()
		errs <- err
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	attached(t, recv(t, "the handler", ready))
	c.send(stdinRecords(1, patterned(1<<20), []int{65535}, []int{1}), rawRec(TypeStdin, 1, nil, 0))
	if err := recv(t, "SpliceTo", errs); !errors.Is(err, unix.EPIPE) {
		t.Errorf("SpliceTo: got %v, want EPIPE", err)
	}
	nextIsServed(t, c)
}

// pipeFills waits until the pipe read by pr holds a default pipe's worth:
// nobody reads it, and the read loop waits on it.
func pipeFills(t *testing.T, pr *os.File) {
	waitFor(t, "the pipe to fill", func() bool {
		n, err := unix.IoctlGetInt(int(pr.Fd()), unix.TIOCINQ)
		return err == nil && n >= 65535
	})
}

// TestSpliceToEndsWhenFeedingStops: a read loop waiting on a full pipe
// that nobody reads (a leftover process holds it) lets go when the handler
// closes the pipe and the stream, as a gateway does when the script is
// gone; the connection then serves another request.
func TestSpliceToEndsWhenFeedingStops(t *testing.T) {
	errs := make(chan error, 1)
	ready := make(chan *Request, 1)
	pipes := make(chan *os.File, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if answerNext(req) {
			return 0
		}
		pr, pw, _ := os.Pipe() // the test closes pr
		pipes <- pr
		ready <- req
		go func() {
			pipeFills(t, pr)
			pw.Close()
			req.Stdin.CloseRead()
		}()
		_, err := req.Stdin.SpliceTo(pw, 1<<40, nil)
		errs <- err
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	defer recv(t, "the pipe", pipes).Close()
	attached(t, recv(t, "the handler", ready))
	go c.Write(append(stdinRecords(1, patterned(1<<20), []int{65535}, []int{1}), rawRec(TypeStdin, 1, nil, 0)...))
	// Whichever the read loop sees first: the pipe's close or the stream's.
	if err := recv(t, "SpliceTo", errs); !errors.Is(err, ErrStreamClosed) && !errors.Is(err, os.ErrClosed) {
		t.Errorf("SpliceTo: got %v, want ErrStreamClosed or os.ErrClosed", err)
	}
	nextIsServed(t, c)
}

// TestSpliceToEndsWithTheConnection: a client that hangs up while the read
// loop waits on a full pipe cancels the request, and SpliceTo returns.
func TestSpliceToEndsWithTheConnection(t *testing.T) {
	errs := make(chan error, 1)
	ready := make(chan *Request, 1)
	pipes := make(chan *os.File, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		pr, pw, _ := os.Pipe() // the test closes pr
		defer pw.Close()
		pipes <- pr
		ready <- req
		_, err := req.Stdin.SpliceTo(pw, 1<<40, nil)
		errs <- err
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	pr := recv(t, "the pipe", pipes)
	defer pr.Close()
	attached(t, recv(t, "the handler", ready))
	go c.Write(stdinRecords(1, patterned(1<<20), []int{65535}, []int{1}))
	pipeFills(t, pr)
	c.Close()
	if err := recv(t, "SpliceTo", errs); !errors.Is(err, ErrConnClosed) {
		t.Errorf("SpliceTo: got %v, want ErrConnClosed, the hang-up's", err)
	}
}

// TestSpliceToWhereItCannot: a connection that is not a socket, and a
// FILTER's DATA, say ErrNotSpliceable; the body is then read as before.
func TestSpliceToWhereItCannot(t *testing.T) {
	c := servePipe(t, HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if n, err := req.Stdin.SpliceTo(os.Stdout, 10, nil); n != 0 || !errors.Is(err, ErrNotSpliceable) {
			t.Errorf("STDIN over net.Pipe: got %d, %v; want 0, ErrNotSpliceable", n, err)
		}
		if n, err := req.Data.SpliceTo(os.Stdout, 10, nil); n != 0 || !errors.Is(err, ErrNotSpliceable) {
			t.Errorf("DATA: got %d, %v; want 0, ErrNotSpliceable", n, err)
		}
		b, _ := io.ReadAll(req.Stdin)
		req.Stdout.Write(b)
		return 0
	}))
	go func() {
		c.Write(begin(1, RoleFilter, false))
		c.Write(rawRec(TypeStdin, 1, []byte("body"), 4))
		c.Write(rawRec(TypeStdin, 1, nil, 0))
		c.Write(rawRec(TypeData, 1, nil, 0))
	}()
	if r := c.responses(1)[1]; string(r.stdout) != "body" {
		t.Errorf("got stdout %q, want %q", r.stdout, "body")
	}
}

// TestCopyIntoPipeTakesTheRecordsRest: the fallback for a splice that
// will not take what the socket holds moves exactly the rest of the
// record through memory, and leaves what follows it in the socket.
func TestCopyIntoPipeTakesTheRecordsRest(t *testing.T) {
	ln := listenUnix(t)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- sc
	}()
	cc, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc := recv(t, "the accepted connection", accepted)
	defer sc.Close()
	c := newConn(context.Background(), &Server{}, sc)
	c.in.get()
	defer c.in.release()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	rc, _ := pw.SyscallConn()
	data := patterned(1500)
	go cc.Write(data)
	sp := &splicing{pipe: rc, left: 1000}
	c.copyIntoPipe(sp)
	if sp.left != 0 || sp.pipeErr != nil || sp.connErr != nil {
		t.Fatalf("got %+v, want the record's 1000 bytes moved", *sp)
	}
	got := make([]byte, 1000)
	if _, err := io.ReadFull(pr, got); err != nil || !bytes.Equal(got, data[:1000]) {
		t.Errorf("the pipe got %d bytes (%v), want the first 1000 sent", len(got), err)
	}
	rest := make([]byte, 500)
	if _, err := io.ReadFull(sc, rest); err != nil || !bytes.Equal(rest, data[1000:]) {
		t.Errorf("the socket kept %v, want the 500 bytes after the record", err)
	}
}
