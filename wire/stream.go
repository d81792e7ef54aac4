package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// errRequestDone is the cause of a request's context once its handler has
// returned; nothing observes it but a handler's leaked goroutines.
var errRequestDone = errors.New("wire: request finished")

// chunk is one queued record's content, in a buffer borrowed from
// chunkBufs: a 1 GiB upload then reuses a handful of buffers instead of
// allocating (and collecting) sixteen thousand.
type chunk struct {
	buf  *[]byte
	data []byte
}

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, MaxContent); return &b }}

// inStream is the Input of one request's STDIN or DATA: the connection's
// read loop pushes chunks, the handler reads them. Unlike an io.Pipe the
// read loop does not wait for the handler as long as the queue has room,
// so a slow request does not stall the others on its connection.
type inStream struct {
	ctx   context.Context // the request's: its end makes Read fail and push discard
	limit int             // queued bytes past which push waits

	mu     sync.Mutex
	chunks []chunk // queued data; chunks[0] is partly read
	queued int     // unread bytes in chunks
	eof    bool    // the empty record arrived
	gone   bool    // the handler returned: drop everything

	readable chan struct{} // cap 1: data or EOF was pushed
	writable chan struct{} // cap 1: the handler took data

	// spliceable is set for a STDIN on a connection that splice(2) can
	// read; sink is the pipe SpliceTo attached: once what was queued has
	// gone into it, the read loop moves records into it instead of
	// queueing them (splicein_linux.go).
	spliceable bool
	sink       *pipeSink
}

func newInStream(ctx context.Context, limit int, eof bool) *inStream {
	s := new(inStream)
	s.init(ctx, limit, eof)
	return s
}

// init readies a zero inStream, one that is part of its request.
func (s *inStream) init(ctx context.Context, limit int, eof bool) {
	s.ctx, s.limit, s.eof = ctx, limit, eof
	s.readable = make(chan struct{}, 1)
	s.writable = make(chan struct{}, 1)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var _ Input = (*inStream)(nil)

// Read implements Input.
func (s *inStream) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			return 0, context.Cause(s.ctx)
		}
		if s.gone {
			s.mu.Unlock()
			return 0, ErrStreamClosed
		}
		if s.queued > 0 {
			n := 0
			for n < len(p) && len(s.chunks) > 0 {
				head := &s.chunks[0]
				c := copy(p[n:], head.data)
				n += c
				if c == len(head.data) {
					chunkBufs.Put(head.buf)
					*head = chunk{}
					s.chunks = s.chunks[1:]
				} else {
					head.data = head.data[c:]
				}
			}
			s.queued -= n
			s.mu.Unlock()
			signal(s.writable)
			return n, nil
		}
		if s.eof {
			s.mu.Unlock()
			return 0, io.EOF
		}
		s.mu.Unlock()
		select {
		case <-s.readable:
		case <-s.ctx.Done():
		}
	}
}

// push queues a copy of b, or marks EOF when b is empty. While the queue is
// full it waits until the handler reads, the request ends (the data is then
// dropped), or connDone closes (it returns false). When it first has to
// wait it calls stalled, if not nil, and the function that returns on its
// way out.
func (s *inStream) push(connDone <-chan struct{}, stalled func() (unstall func()), b []byte) bool {
	var unstall func()
	defer func() {
		if unstall != nil {
			unstall()
		}
	}()
	for {
		s.mu.Lock()
		if s.sink != nil && (s.sink.ready || len(b) == 0) {
			// Queued data goes before anything later, so the read loop
			// splices no more once it queues. A sink still draining the
			// queue takes this record with the rest, unless it is the end.
			s.detachLocked(s.sink, nil)
		}
		switch {
		case s.gone || s.eof:
			s.mu.Unlock()
			return true
		case len(b) == 0:
			s.eof = true
		case s.queued == 0 || s.queued+len(b) <= s.limit:
			// An empty queue takes any record: a limit below one record's
			// size must not wedge the stream.
			s.appendLocked(b)
		default:
			s.mu.Unlock()
			if unstall == nil && stalled != nil {
				unstall = stalled()
			}
			select {
			case <-s.writable:
				continue
			case <-s.ctx.Done():
				return true
			case <-connDone:
				return false
			}
		}
		s.mu.Unlock()
		signal(s.readable)
		return true
	}
}

// appendLocked copies b into the free room of the last buffer, then into a
// fresh one. Records of a byte each (nginx forwarding a slow client's body
// unbuffered) thus fill buffers instead of taking 64 KiB each: every buffer
// but the first and the last is full of unread data, so what the stream
// holds stays below queued + 2*MaxContent.
func (s *inStream) appendLocked(b []byte) {
	s.queued += len(b)
	if n := len(s.chunks); n > 0 {
		tail := &s.chunks[n-1]
		k := min(len(b), cap(tail.data)-len(tail.data))
		tail.data = append(tail.data, b[:k]...)
		b = b[k:]
	}
	if len(b) > 0 {
		bp := chunkBufs.Get().(*[]byte)
		s.chunks = append(s.chunks, chunk{buf: bp, data: append((*bp)[:0], b...)})
	}
}

// AtEOF implements Input.
func (s *inStream) AtEOF() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eof && s.queued == 0 && !s.gone && s.ctx.Err() == nil
}

// ErrStreamClosed is what Read returns after CloseRead.
var ErrStreamClosed = errors.New("wire: input stream closed by its reader")

// CloseRead implements Input.
func (s *inStream) CloseRead() error {
	s.close()
	signal(s.readable)
	signal(s.writable)
	return nil
}

// close drops queued data once the handler has returned.
func (s *inStream) close() {
	s.mu.Lock()
	s.gone = true
	if s.sink != nil {
		s.detachLocked(s.sink, ErrStreamClosed)
	}
	for _, c := range s.chunks {
		chunkBufs.Put(c.buf)
	}
	s.chunks = nil
	s.queued = 0
	s.mu.Unlock()
}

// outStream is the Output of a request's STDOUT or STDERR. Each Write
// becomes records at once, written with a single writev and without
// copying the payload; Delay keeps a copy back to go out together with
// what follows it.
type outStream struct {
	c   *conn
	r   *request
	typ RecType

	mu   sync.Mutex  // serialises Writes of this stream and guards the rest
	used bool        // a non-empty record was sent
	done bool        // the handler returned; Write fails
	hdrs []byte      // header scratch, reused across Writes
	iov  net.Buffers // record pieces scratch, reused across Writes
	send net.Buffers // what write consumes; a field so it does not escape

	// First room for hdrs and iov: the two records of a short response
	// (what Delay held and what follows it) need no allocation.
	hdrRoom [2 * headerLen]byte
	iovRoom [6][]byte

	pending []byte      // Delay's bytes not sent yet, less than MaxContent
	timer   *time.Timer // sends pending when its delay is over

	spliceHdr [headerLen]byte // SpliceFrom's header scratch
}

// init readies a zero outStream of type typ for request r.
func (w *outStream) init(c *conn, r *request, typ RecType) {
	w.c, w.r, w.typ = c, r, typ
	w.hdrs, w.iov = w.hdrRoom[:], w.iovRoom[:0]
}

var errStreamClosed = errors.New("wire: write after the handler returned")

var _ Output = (*outStream)(nil)

// Write implements Output.
func (w *outStream) Write(p []byte) (int, error) { return w.put(p, 0) }

// Delay implements Output.
func (w *outStream) Delay(p []byte, d time.Duration) (int, error) { return w.put(p, d) }

// put sends p, with what Delay kept back before it, now (d <= 0) or within
// d.
func (w *outStream) put(p []byte, d time.Duration) (int, error) {
	if len(p) == 0 {
		// An empty record would end the stream.
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writableLocked(); err != nil {
		return 0, err
	}
	if d <= 0 || len(w.pending)+len(p) >= MaxContent {
		// Now, or enough to fill a record: no reason to wait.
		if err := w.writeLocked(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if len(w.pending) == 0 {
		if w.timer == nil {
			w.timer = time.AfterFunc(d, w.flushPending)
		} else {
			w.timer.Reset(d)
		}
	}
	w.pending = append(w.pending, p...)
	return len(p), nil
}

func (w *outStream) writableLocked() error {
	if w.done {
		return errStreamClosed
	}
	if err := w.r.ctx.Err(); err != nil {
		return context.Cause(w.r.ctx)
	}
	return nil
}

// flushPending sends what Delay kept back once its time is up.
func (w *outStream) flushPending() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 || w.writableLocked() != nil {
		return
	}
	_ = w.writeLocked(nil) // a failure ends the connection, which the handler sees
}

// writeLocked sends the pending bytes, then p, as records in one writev.
func (w *outStream) writeLocked(p []byte) error {
	if len(w.pending) > 0 && w.timer != nil {
		w.timer.Stop()
	}
	w.send = w.recordsLocked(w.pending, p)
	err := w.c.write(&w.send)
	clear(w.iov) // do not keep the caller's buffer alive
	w.pending = w.pending[:0]
	if err != nil {
		return err
	}
	w.used = true
	return nil
}

// recordsLocked lays the pieces out as this stream's records, without
// copying them: headers in w.hdrs, the pieces and padding in w.iov.
func (w *outStream) recordsLocked(pieces ...[]byte) net.Buffers {
	nrec := 0
	for _, piece := range pieces {
		nrec += (len(piece) + MaxContent - 1) / MaxContent
	}
	if cap(w.hdrs) < nrec*headerLen {
		w.hdrs = make([]byte, nrec*headerLen)
	}
	hdrs := w.hdrs[:0]
	iov := w.iov[:0]
	for _, piece := range pieces {
		for rest := piece; len(rest) > 0; {
			chunk := rest[:min(len(rest), MaxContent)]
			rest = rest[len(chunk):]
			pad := padLen(len(chunk))
			hdrs = hdrs[:len(hdrs)+headerLen]
			h := hdrs[len(hdrs)-headerLen:]
			putHeader(h, w.typ, w.r.id, len(chunk), pad)
			iov = append(iov, h, chunk)
			if pad > 0 {
				iov = append(iov, zeros[:pad])
			}
		}
	}
	w.iov = iov
	return iov
}

// finish stops further Writes, waiting for one in progress, and reports
// whether anything was or is to be sent, and the records of what Delay
// still holds: the caller sends them in the write that ends the request.
func (w *outStream) finish() (used bool, tail net.Buffers) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	if len(w.pending) == 0 || w.r.ctx.Err() != nil {
		// Nothing held, or cancelled: nothing more reaches the client.
		return w.used, nil
	}
	return true, w.recordsLocked(w.pending)
}
