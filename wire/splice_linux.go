package wire

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SpliceFrom implements Output. Each record's header is written, then its
// content moved from the pipe into the socket by splice(2): the pages go
// from the pipe to the socket buffer without a copy through our memory,
// where a read and a write would copy every byte twice. Output that Delay
// kept back goes out first.
func (w *outStream) SpliceFrom(pipe int, n int) (int, error) {
	n -= n % spliceAlign
	if n <= 0 {
		return 0, nil
	}
	rc := w.c.raw
	if rc == nil {
		return 0, ErrNotSpliceable
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writableLocked(); err != nil {
		return 0, err
	}
	if len(w.pending) > 0 {
		if err := w.writeLocked(nil); err != nil {
			return 0, err
		}
	}
	sent := 0
	for sent < n {
		chunk := min(n-sent, MaxContent-MaxContent%spliceAlign)
		putHeader(w.spliceHdr[:], w.typ, w.r.id, chunk, 0)
		if err := w.c.spliceRecord(rc, w.spliceHdr[:], pipe, chunk); err != nil {
			return sent, err
		}
		sent += chunk
		w.used = true
	}
	return sent, nil
}

// spliceAlign keeps spliced records 8-byte aligned, as the specification
// recommends, without padding: a splice cannot add it after the content
// in the same record write, so content comes in multiples of 8.
const spliceAlign = 8

// ErrNotSpliceable is SpliceFrom's answer on a connection that is not a
// socket of ours (a test's net.Pipe): the caller reads and writes instead.
var ErrNotSpliceable = errors.New("wire: connection cannot take splice")

// spliceRecord writes hdr and then n bytes from pipe, which must hold at
// least n bytes, to the socket rc under the write lock: nothing may come
// between a record's header and its content. A failure ends the
// connection, as a failed write does.
func (c *conn) spliceRecord(rc syscall.RawConn, hdr []byte, pipe int, n int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	bufs := net.Buffers{hdr}
	if err := c.writeLocked(&bufs); err != nil {
		return err
	}
	timeout := c.srv.WriteTimeout
	left := n
	for left > 0 {
		if timeout > 0 {
			_ = c.rwc.SetWriteDeadline(time.Now().Add(timeout))
		}
		before := left
		var serr error
		err := rc.Write(func(sock uintptr) bool {
			for left > 0 {
				m, err := unix.Splice(pipe, nil, int(sock), nil, left, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false // the socket is full: wait until it takes more
				case err != nil:
					serr = os.NewSyscallError("splice", err)
					return true
				case m == 0:
					serr = errors.New("wire: splice: the pipe ran dry")
					return true
				}
				left -= int(m)
			}
			return true
		})
		if err == nil {
			err = serr
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && left < before {
			continue // progress: a slow client, not a stuck one
		}
		return c.failWriteLocked(err)
	}
	return nil
}
