package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// splicedBody is what a handler that feeds its body to a pipe as a CGI
// gateway does got: the bytes out of the pipe, how many SpliceTo moved,
// and its last error.
type splicedBody struct {
	got     []byte
	spliced int64
	err     error
}

// attached waits until req's STDIN has a pipe attached, so that what the
// test sends next meets it rather than a queue.
func attached(t *testing.T, req *Request) {
	t.Helper()
	s := req.Stdin.(*inStream)
	waitFor(t, "SpliceTo to attach its pipe", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.sink != nil
	})
}

// feedPipe is a handler's body loop: SpliceTo while it may, Read and write
// what it cannot splice, with a reader draining the pipe.
func feedPipe(t *testing.T, req *Request, max int64, ready chan<- *Request) splicedBody {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Error(err)
		return splicedBody{}
	}
	drained := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		pr.Close()
		drained <- b
	}()
	var res splicedBody
	buf := make([]byte, 100000)
	if ready != nil {
		ready <- req
	}
	for {
		n, err := req.Stdin.SpliceTo(pw, max-res.spliced, nil)
		res.spliced += n
		if err != nil {
			res.err = err
			break
		}
		m, rerr := req.Stdin.Read(buf)
		pw.Write(buf[:m])
		if rerr != nil {
			break
		}
	}
	pw.Close()
	res.got = recv(t, "the pipe's reader", drained)
	return res
}

// stdinRecords is body cut into STDIN records of the given sizes (the last
// one repeated), each padded as pads says in turn.
func stdinRecords(id uint16, body []byte, sizes, pads []int) []byte {
	var out []byte
	for i := 0; len(body) > 0; i++ {
		n := min(sizes[min(i, len(sizes)-1)], len(body))
		out = append(out, rawRec(TypeStdin, id, body[:n], pads[i%len(pads)])...)
		body = body[n:]
	}
	return out
}

func patterned(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestSpliceToMovesTheBodyIntoThePipe: records of every awkward size and
// padding, a second request's records between them on the same
// connection, and writes cut at random points (through headers too) all
// reach the pipe whole and in order, by splice, and the connection goes on.
func TestSpliceToMovesTheBodyIntoThePipe(t *testing.T) {
	body := patterned(3<<20 + 123)
	results := make(chan splicedBody, 1)
	ready := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.ID == 2 {
			req.Stdout.Write([]byte("two"))
			return 0
		}
		results <- feedPipe(t, req, 1<<40, ready)
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	attached(t, recv(t, "the handler", ready))
	sizes, pads := []int{1, 7, 8, 100, 65535, 65528, 3000, 65535}, []int{0, 7, 255, 1, 3}
	// The other request's records go in after the first megabyte.
	other := append(begin(2, RoleResponder, true), rawRec(TypeStdin, 2, []byte("x"), 0)...)
	other = append(other, rawRec(TypeStdin, 2, nil, 0)...)
	stream := append(stdinRecords(1, body[:1<<20], sizes, pads), other...)
	stream = append(stream, stdinRecords(1, body[1<<20:], sizes, pads)...)
	stream = append(stream, rawRec(TypeStdin, 1, nil, 0)...)
	go func() {
		r := rand.New(rand.NewPCG(3, 4))
		for len(stream) > 0 {
			n := min(1+r.IntN(200000), len(stream))
			if _, err := c.Write(stream[:n]); err != nil {
				return
			}
			stream = stream[n:]
		}
	}()
	defer func() {
		if t.Failed() {
			t.Log(h.log.String())
		}
	}()
	resps := c.responses(2)
	res := recv(t, "the body handler", results)
	if !bytes.Equal(res.got, body) {
		t.Fatalf("the pipe got %d bytes, want the %d sent, in order", len(res.got), len(body))
	}
	if res.spliced < int64(len(body))/2 {
		t.Errorf("SpliceTo moved %d bytes of %d, want most of them", res.spliced, len(body))
	}
	if res.err != nil {
		t.Errorf("SpliceTo: %v", res.err)
	}
	if string(resps[2].stdout) != "two" {
		t.Errorf("the request between got %q, want %q", resps[2].stdout, "two")
	}
}

// TestSpliceToStopsBeforeARecordPastMax: a record that would take the
// stream past max is not spliced but queued, and SpliceTo returns what
// went before it, so the caller reads the excess and can refuse it.
func TestSpliceToStopsBeforeARecordPastMax(t *testing.T) {
	body := patterned(3 * 65535)
	results := make(chan splicedBody, 1)
	ready := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		pr, pw, _ := os.Pipe()
		defer pr.Close()
		defer pw.Close()
		unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		ready <- req
		n, err := req.Stdin.SpliceTo(pw, 100000, nil)
		rest, _ := io.ReadAll(req.Stdin)
		got := make([]byte, n)
		io.ReadFull(pr, got)
		results <- splicedBody{got: append(got, rest...), spliced: n, err: err}
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false))
	attached(t, recv(t, "the handler", ready))
	c.send(stdinRecords(1, body, []int{65535}, []int{1}), rawRec(TypeStdin, 1, nil, 0))
	c.responses(1)
	res := recv(t, "the handler", results)
	if res.spliced != 65535 || res.err != nil {
		t.Errorf("SpliceTo: got %d, %v; want 65535 (the one record under max), nil", res.spliced, res.err)
	}
	if !bytes.Equal(res.got, body) {
		t.Errorf("spliced and read: %d bytes, want the %d sent, in order", len(res.got), len(body))
	}
}

// TestSpliceToPipeGoneDropsTheRestOfItsRecord: when the script stops
// reading and closes its end mid-record, SpliceTo returns the pipe's
// error, the rest of the body is dropped, and the connection stays in
// step: the next request on it is served.
func TestSpliceToPipeGoneDropsTheRestOfItsRecord(t *testing.T) {
	errs := make(chan error, 1)
	ready := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.ID == 2 {
			req.Stdout.Write([]byte("next"))
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
	c.send(begin(2, RoleResponder, false), rawRec(TypeStdin, 2, nil, 0))
	if r := c.responses(2)[2]; string(r.stdout) != "next" {
		t.Errorf("the next request got %q, want %q", r.stdout, "next")
	}
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
		if req.ID == 2 {
			req.Stdout.Write([]byte("next"))
			return 0
		}
		pr, pw, _ := os.Pipe() // the test closes pr
		pipes <- pr
		ready <- req
		go func() {
			waitFor(t, "the pipe to fill", func() bool {
				n, err := unix.IoctlGetInt(int(pr.Fd()), unix.TIOCINQ)
				return err == nil && n >= 65535
			})
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
	c.send(begin(2, RoleResponder, false), rawRec(TypeStdin, 2, nil, 0))
	if r := c.responses(2)[2]; string(r.stdout) != "next" {
		t.Errorf("the next request got %q, want %q", r.stdout, "next")
	}
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
	waitFor(t, "the pipe to fill", func() bool {
		n, err := unix.IoctlGetInt(int(pr.Fd()), unix.TIOCINQ)
		return err == nil && n >= 65535
	})
	c.Close()
	if err := recv(t, "SpliceTo", errs); !errors.Is(err, ErrConnClosed) {
		t.Errorf("SpliceTo: got %v, want ErrConnClosed, the hang-up's", err)
	}
}

// TestSpliceToWhereItCannot: a connection that is not a socket, and a
// FILTER's DATA, say ErrNotSpliceable; the body is then read as before.
func TestSpliceToWhereItCannot(t *testing.T) {
	cc, sc := net.Pipe()
	defer cc.Close()
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if n, err := req.Stdin.SpliceTo(os.Stdout, 10, nil); n != 0 || !errors.Is(err, ErrNotSpliceable) {
			t.Errorf("STDIN over net.Pipe: got %d, %v; want 0, ErrNotSpliceable", n, err)
		}
		if n, err := req.Data.SpliceTo(os.Stdout, 10, nil); n != 0 || !errors.Is(err, ErrNotSpliceable) {
			t.Errorf("DATA: got %d, %v; want 0, ErrNotSpliceable", n, err)
		}
		b, _ := io.ReadAll(req.Stdin)
		req.Stdout.Write(b)
		return 0
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), sc)
	}()
	defer func() {
		srv.Close()
		recv(t, "ServeConn to return", served)
	}()
	c := &rawConn{t: t, Conn: cc, br: bufio.NewReader(cc)}
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

// queuedAtLeast waits until req's STDIN has n bytes queued.
func queuedAtLeast(t *testing.T, req *Request, n int) {
	t.Helper()
	s := req.Stdin.(*inStream)
	waitFor(t, "the queue to fill", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.queued >= n
	})
}

// TestSpliceToCatchesUpWithAFullQueue: a client faster than the handler
// has filled the stream's queue before SpliceTo is called. SpliceTo
// writes the queue into the pipe while the read loop waits, and every
// later record is spliced: the whole body goes by SpliceTo, none by Read.
// Before, the read loop refilled the queue as fast as Read emptied it, so
// a pipe could only be attached to a client slower than its script.
func TestSpliceToCatchesUpWithAFullQueue(t *testing.T) {
	body := patterned(3 << 20)
	results := make(chan splicedBody, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		queuedAtLeast(t, req, defaultLimit-MaxContent)
		results <- feedPipe(t, req, 1<<40, nil)
		return 0
	}), nil)
	c := h.raw(t)
	go c.Write(append(append(begin(1, RoleResponder, false),
		stdinRecords(1, body, []int{65535}, []int{1})...), rawRec(TypeStdin, 1, nil, 0)...))
	c.responses(1)
	res := recv(t, "the handler", results)
	if !bytes.Equal(res.got, body) {
		t.Fatalf("the pipe got %d bytes, want the %d sent, in order", len(res.got), len(body))
	}
	if res.spliced != int64(len(body)) || res.err != nil {
		t.Errorf("SpliceTo: got %d, %v; want all %d, nil", res.spliced, res.err, len(body))
	}
}

// TestSpliceToLeavesAQueuePastMax: a queue that already holds more than
// max is left for Read, whole: SpliceTo moves none of it.
func TestSpliceToLeavesAQueuePastMax(t *testing.T) {
	body := patterned(200000)
	results := make(chan splicedBody, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		queuedAtLeast(t, req, len(body))
		pr, pw, _ := os.Pipe()
		defer pr.Close()
		defer pw.Close()
		n, err := req.Stdin.SpliceTo(pw, 100000, nil)
		rest, _ := io.ReadAll(req.Stdin)
		results <- splicedBody{got: rest, spliced: n, err: err}
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false), stdinRecords(1, body, []int{65535}, []int{1}), rawRec(TypeStdin, 1, nil, 0))
	c.responses(1)
	res := recv(t, "the handler", results)
	if res.spliced != 0 || res.err != nil || !bytes.Equal(res.got, body) {
		t.Errorf("got %d spliced (%v) and %d read; want 0, nil and all %d read", res.spliced, res.err, len(res.got), len(body))
	}
}

// TestSpliceToRandomRecords: bodies cut into records of random sizes and
// paddings, and sent in writes of random lengths, arrive whole and in
// order, for several seeds.
func TestSpliceToRandomRecords(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 99))
		body := patterned(1<<20 + r.IntN(1000))
		sizes, pads := make([]int, 40), make([]int, 40)
		for i := range sizes {
			sizes[i], pads[i] = 1+r.IntN(MaxContent), r.IntN(256)
		}
		results := make(chan splicedBody, 1)
		ready := make(chan *Request, 1)
		h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			results <- feedPipe(t, req, 1<<40, ready)
			return 0
		}), nil)
		c := h.raw(t)
		c.send(begin(1, RoleResponder, false))
		attached(t, recv(t, "the handler", ready))
		stream := append(stdinRecords(1, body, sizes, pads), rawRec(TypeStdin, 1, nil, 0)...)
		go func() {
			for len(stream) > 0 {
				n := min(1+r.IntN(100000), len(stream))
				if _, err := c.Write(stream[:n]); err != nil {
					return
				}
				stream = stream[n:]
			}
		}()
		c.responses(1)
		if res := recv(t, "the handler", results); !bytes.Equal(res.got, body) || res.err != nil {
			t.Fatalf("seed %d: the pipe got %d bytes (%v), want the %d sent, in order", seed, len(res.got), res.err, len(body))
		}
	}
}
