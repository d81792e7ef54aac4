package wire

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
)

// pipeSink is a pipe that SpliceTo attached to a STDIN stream. The read
// loop claims it for one record at a time and moves the record's content
// into it: what it had read already by a write, the rest straight from
// the socket by splice(2), so an upload's bytes are never copied through
// our memory.
type pipeSink struct {
	stream   *inStream
	pipe     *os.File
	rc       syscall.RawConn // the pipe's
	left     int64           // what it may still take; guarded by inStream.mu
	ready    bool            // what was queued before it has gone into the pipe; guarded by inStream.mu
	moved    atomic.Int64
	err      error         // why it was let go; set before done closes
	progress chan struct{} // cap 1: a record went in
	readyCh  chan struct{} // closed when ready is set
	done     chan struct{} // closed once it is detached
}

// SpliceTo implements Input.
func (s *inStream) SpliceTo(pipe *os.File, max int64, progress func()) (int64, error) {
	if !s.spliceable {
		return 0, ErrNotSpliceable
	}
	if max <= 0 || !s.mayAttach() {
		return 0, nil
	}
	rc, err := pipe.SyscallConn()
	if err != nil {
		return 0, ErrNotSpliceable
	}
	sink := &pipeSink{stream: s, pipe: pipe, rc: rc, left: max,
		progress: make(chan struct{}, 1), readyCh: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if !s.mayAttachLocked() {
		s.mu.Unlock()
		return 0, nil
	}
	s.sink = sink
	s.mu.Unlock()
	if progress == nil {
		progress = func() {}
	}
	s.drainInto(sink, progress)
	for {
		select {
		case <-sink.progress:
			progress()
		case <-sink.done:
			return sink.moved.Load(), sink.err
		case <-s.ctx.Done():
			// The read loop may be inside a record still: it lets go
			// when the caller closes the pipe, dropping the rest.
			s.mu.Lock()
			s.detachLocked(sink, nil)
			s.mu.Unlock()
			return sink.moved.Load(), context.Cause(s.ctx)
		}
	}
}

// drainInto writes what is queued into the newly attached sink, then
// makes it ready. Meanwhile the read loop queues no more for the stream
// (claim waits for ready): a client faster than the script would
// otherwise keep the queue from ever emptying. Queued data that would
// take the sink past its max is left for Read: the sink is let go.
func (s *inStream) drainInto(sink *pipeSink, progress func()) {
	for {
		s.mu.Lock()
		switch {
		case s.sink != sink:
			s.mu.Unlock()
			return
		case s.queued == 0:
			sink.ready = true
			close(sink.readyCh)
			s.mu.Unlock()
			return
		case int64(s.queued) > sink.left:
			s.detachLocked(sink, nil)
			s.mu.Unlock()
			return
		}
		chunks, n := s.chunks, s.queued
		s.chunks, s.queued = nil, 0
		sink.left -= int64(n)
		s.mu.Unlock()
		signal(s.writable)
		var err error
		for _, c := range chunks {
			if err == nil {
				_, err = sink.pipe.Write(c.data)
			}
			chunkBufs.Put(c.buf)
		}
		if err != nil {
			s.mu.Lock()
			s.detachLocked(sink, err)
			s.mu.Unlock()
			return
		}
		sink.moved.Add(int64(n))
		progress()
	}
}

func (s *inStream) mayAttach() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mayAttachLocked()
}

// mayAttachLocked reports whether more of the stream is to come from the
// connection, and no sink takes it yet.
func (s *inStream) mayAttachLocked() bool {
	return s.sink == nil && !s.eof && !s.gone && s.ctx.Err() == nil
}

// detachLocked lets go of sink, if it is still attached, with why.
func (s *inStream) detachLocked(sink *pipeSink, why error) {
	if s.sink != sink {
		return
	}
	s.sink = nil
	sink.err = why
	close(sink.done)
}

// claim is the read loop's: the sink that takes a record of n content
// bytes, or nil when the record must be queued instead. A sink still
// draining the queue is waited for, as a stall, unless connDone closes.
func (s *inStream) claim(n int, connDone <-chan struct{}, stalled func() (unstall func())) *pipeSink {
	for {
		s.mu.Lock()
		sink := s.sink
		switch {
		case sink == nil || s.eof || s.gone || int64(n) > sink.left:
			s.mu.Unlock()
			return nil
		case sink.ready:
			sink.left -= int64(n)
			s.mu.Unlock()
			return sink
		}
		s.mu.Unlock()
		unstall := stalled()
		select {
		case <-sink.readyCh:
		case <-sink.done:
		case <-connDone:
		}
		unstall()
		select {
		case <-connDone:
			return nil
		default:
		}
	}
}

// settle records what a claimed record moved. A pipe that failed, or a
// sink that has taken all it may, is let go.
func (sink *pipeSink) settle(n int, pipeErr error) {
	s := sink.stream
	sink.moved.Add(int64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case pipeErr != nil:
		s.detachLocked(sink, pipeErr)
	case sink.left == 0:
		s.detachLocked(sink, nil)
	default:
		signal(sink.progress)
	}
}

// sinkFor is the sink that takes the content of STDIN record rec, whose
// header the read loop has just read, or nil.
func (c *conn) sinkFor(rec Header) *pipeSink {
	if rec.Type != TypeStdin || rec.ContentLength == 0 || c.raw == nil {
		return nil
	}
	c.mu.Lock()
	r := c.reqs[rec.ID]
	running := r != nil && r.state == reqRunning
	c.mu.Unlock()
	if !running {
		return nil
	}
	return r.stdin.claim(int(rec.ContentLength), c.ctx.Done(), c.stall)
}

// spliceStdin moves the content of the STDIN record whose header is at
// c.in.r into sink, and leaves its padding for next to skip. A pipe that
// fails loses the rest of the record, as a script that stops reading
// loses the rest of its body; only a failed connection is an error.
func (c *conn) spliceStdin(rec Header, sink *pipeSink) error {
	in := &c.in
	clen := int(rec.ContentLength)
	have := min(in.w-in.r-headerLen, clen)
	buffered := (*in.b)[in.r+headerLen : in.r+headerLen+have]
	in.r += headerLen + have
	taken, moved := have, 0 // content off the input, and into the pipe
	pipeErr := c.writePipe(sink.rc, buffered)
	if pipeErr == nil {
		n, perr, err := c.spliceSocket(sink.rc, clen-have)
		taken, moved = have+n, have+n
		if err != nil {
			sink.settle(moved, err)
			return err
		}
		pipeErr = perr
	}
	sink.settle(moved, pipeErr)
	skip := clen - taken + int(rec.PaddingLength)
	// The padding is read with the next header: one short read for both.
	drop := min(skip, in.w-in.r)
	in.r += drop
	c.skip = skip - drop
	c.shortReads = true
	return nil
}
