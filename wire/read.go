package wire

import (
	"io"
	"sync"
)

// inBufs holds input buffers between bursts of input: a connection gives
// its buffer back whenever it has handled all it read, so thousands of idle
// keep-alive connections cost little memory. One holds any record whole.
var inBufs = sync.Pool{New: func() any { b := make([]byte, headerLen+RecordBufSize); return &b }}

// inBuf is what the read loop read and has not handled yet.
type inBuf struct {
	b    *[]byte // from inBufs; nil while nothing is buffered
	r, w int     // the unhandled input is (*b)[r:w]
}

func (in *inBuf) get() {
	if in.b == nil {
		in.b = inBufs.Get().(*[]byte)
	}
}

func (in *inBuf) release() {
	if in.b != nil {
		inBufs.Put(in.b)
	}
	*in = inBuf{}
}

func (c *conn) readLoop() error {
	defer c.in.release()
	for {
		rec, n, sink, err := c.next()
		switch {
		case err != nil:
		case sink != nil:
			err = c.spliceStdin(rec.Header, sink)
		default:
			err = c.dispatch(rec)
		}
		if err != nil {
			if err == errDrain {
				return c.discard() // lingerClose's deadline bounds this
			}
			return err
		}
		if c.in.r += n; c.in.r == c.in.w {
			c.in.release()
		}
	}
}

// next returns the next record, n bytes of input long, without consuming
// it. Its content lies in c.in's buffer: it is valid until the read loop
// moves on. Errors are as ReadRecord's. A STDIN record whose stream has a
// pipe attached comes as its header alone, with the pipe: its content is
// left where it is, to be spliced.
func (c *conn) next() (rec Record, n int, sink *pipeSink, err error) {
	if err := c.skipThenNeed(headerLen); err != nil {
		return rec, 0, nil, err
	}
	b := (*c.in.b)[c.in.r:]
	rec.Header, err = parseHeader(b)
	if err != nil {
		return rec, 0, nil, err
	}
	if sink = c.sinkFor(rec.Header); sink != nil {
		return rec, 0, sink, nil
	}
	c.shortReads = false
	clen := int(rec.ContentLength)
	n = headerLen + clen + int(rec.PaddingLength)
	if err := c.need(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return rec, 0, nil, err
	}
	b = (*c.in.b)[c.in.r:]
	rec.Content = b[headerLen : headerLen+clen : headerLen+clen]
	return rec, n, nil, nil
}

// skipThenNeed drops the input skip says to, reading it with the n bytes
// that follow, and then needs those. Input that ends right after what is
// dropped ends cleanly.
func (c *conn) skipThenNeed(n int) error {
	if c.skip == 0 {
		return c.need(n)
	}
	in := &c.in
	for c.skip > 0 {
		step := min(c.skip, RecordBufSize)
		err := c.need(step + n)
		if in.w-in.r < step {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		in.r += step
		c.skip -= step
		if err != nil {
			if err == io.ErrUnexpectedEOF && c.skip == 0 && in.r == in.w {
				err = io.EOF
			}
			return err
		}
	}
	return nil
}

// need reads until c.in holds n bytes (no more than a record). A clean end
// of input before any is io.EOF, one inside them io.ErrUnexpectedEOF.
func (c *conn) need(n int) error {
	in := &c.in
	for in.w-in.r < n {
		// Deadlines bound waits for input: records read already need
		// none, so a request read at once arms them once, not per record.
		c.armDeadline()
		if in.b == nil {
			if c.shortReads {
				c.readMax = n
			}
			if err := c.readIdle(); err != nil {
				return err
			}
			continue
		}
		if len(*in.b)-in.r < n {
			in.w = copy(*in.b, (*in.b)[in.r:in.w])
			in.r = 0
		}
		end := len(*in.b)
		if c.shortReads {
			end = in.r + n
		}
		m, err := c.rwc.Read((*in.b)[in.w:end])
		in.w += m
		if err != nil && in.w-in.r < n {
			if err == io.EOF && in.w > in.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readIdle reads into an empty c.in what has arrived, waiting for it first
// without a buffer: a connection idle between requests holds none. A
// connection without raw access reads the next header first, and takes a
// buffer then.
func (c *conn) readIdle() error {
	if c.raw == nil {
		if _, err := io.ReadFull(c.rwc, c.hdr[:]); err != nil {
			return err
		}
		c.in.get()
		c.in.w = copy(*c.in.b, c.hdr[:])
		return nil
	}
	c.rawErr = nil
	err := c.raw.Read(c.rawReadFn)
	c.readMax = 0
	if err != nil {
		return err
	}
	return c.rawErr
}

// discard reads and drops the input until it ends.
func (c *conn) discard() error {
	c.in.get()
	for {
		if _, err := c.rwc.Read(*c.in.b); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
