package wire

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
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
	if ready != nil {
		ready <- req
	}
	res.spliced, res.err = feedLoop(req, pw, max)
	pw.Close()
	res.got = recv(t, "the pipe's reader", drained)
	return res
}

// feedLoop is a gateway's body loop: SpliceTo while it may, and Read and
// write what it cannot splice. It returns how much SpliceTo moved and the
// error that ended it, if SpliceTo's.
func feedLoop(req *Request, pw *os.File, max int64) (spliced int64, err error) {
	buf := make([]byte, 100000)
	for {
		n, err := req.Stdin.SpliceTo(pw, max-spliced, nil)
		spliced += n
		if err != nil {
			return spliced, err
		}
		m, rerr := req.Stdin.Read(buf)
		pw.Write(buf[:m])
		if rerr != nil {
			return spliced, nil
		}
	}
}

// answerNext is the handler of request 2 in tests whose first request
// leaves the connection in a state to check: it answers "next".
func answerNext(req *Request) bool {
	if req.ID != 2 {
		return false
	}
	req.Stdout.Write([]byte("next"))
	return true
}

// nextIsServed sends request 2 on c and checks it is answered: the
// connection is still in step.
func nextIsServed(t *testing.T, c *rawConn) {
	t.Helper()
	c.send(begin(2, RoleResponder, false), rawRec(TypeStdin, 2, nil, 0))
	if r := c.responses(2)[2]; string(r.stdout) != "next" {
		t.Errorf("the next request got %q, want %q", r.stdout, "next")
	}
}

// splicingServer serves handlers that feed their bodies with feedPipe
// (and answer a request 2 with "next"), begins request 1 on a raw client,
// and waits until its pipe is attached. Each body handler's result comes
// on the channel.
func splicingServer(t *testing.T, keepConn bool) (*rawConn, <-chan splicedBody) {
	results := make(chan splicedBody, 1)
	ready := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if !answerNext(req) {
			results <- feedPipe(t, req, 1<<40, ready)
		}
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, keepConn))
	attached(t, recv(t, "the handler", ready))
	return c, results
}

// writeInPieces writes stream to c in writes of random lengths up to
// most, from its own goroutine, which ends with the writes.
func writeInPieces(c *rawConn, stream []byte, r *rand.Rand, most int) {
	go func() {
		for len(stream) > 0 {
			n := min(1+r.IntN(most), len(stream))
			if _, err := c.Write(stream[:n]); err != nil {
				return
			}
			stream = stream[n:]
		}
	}()
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
	c, results := splicingServer(t, true)
	sizes, pads := []int{1, 7, 8, 100, 65535, 65528, 3000, 65535}, []int{0, 7, 255, 1, 3}
	// The other request's records go in after the first megabyte.
	other := append(begin(2, RoleResponder, true), rawRec(TypeStdin, 2, []byte("x"), 0)...)
	other = append(other, rawRec(TypeStdin, 2, nil, 0)...)
	stream := append(stdinRecords(1, body[:1<<20], sizes, pads), other...)
	stream = append(stream, stdinRecords(1, body[1<<20:], sizes, pads)...)
	stream = append(stream, rawRec(TypeStdin, 1, nil, 0)...)
	writeInPieces(c, stream, rand.New(rand.NewPCG(3, 4)), 200000)
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
	if string(resps[2].stdout) != "next" {
		t.Errorf("the request between got %q, want %q", resps[2].stdout, "next")
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
		c, results := splicingServer(t, false)
		writeInPieces(c, append(stdinRecords(1, body, sizes, pads), rawRec(TypeStdin, 1, nil, 0)...), r, 100000)
		c.responses(1)
		if res := recv(t, "the handler", results); !bytes.Equal(res.got, body) || res.err != nil {
			t.Fatalf("seed %d: the pipe got %d bytes (%v), want the %d sent, in order", seed, len(res.got), res.err, len(body))
		}
	}
}
