package main

import (
	"io"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// recordReadSize is the load generator's read size: the pipe reference's
// (pipeReadSize), as issue 16 asks of the client a wrapper is compared
// through.
const recordReadSize = pipeReadSize

// recordReader reads records as the pipe reference reads its pipe: reads
// of up to recordReadSize into one buffer, with content handed on from
// where it landed, so each byte is read once and copied by nobody else.
// A bufio.Reader copied part of every large record out of its buffer and
// read the rest in a second read.
type recordReader struct {
	r    io.Reader
	buf  []byte
	s, e int // the unread input is buf[s:e]
}

func newRecordReader(r io.Reader) *recordReader {
	return &recordReader{r: r, buf: make([]byte, recordReadSize)}
}

// fill reads until n bytes (at most the buffer's size) are unread. Input
// that ends with none unread is io.EOF, inside them io.ErrUnexpectedEOF.
func (rr *recordReader) fill(n int) error {
	if rr.s+n > len(rr.buf) {
		rr.e = copy(rr.buf, rr.buf[rr.s:rr.e])
		rr.s = 0
	}
	for rr.e-rr.s < n {
		m, err := rr.r.Read(rr.buf[rr.e:])
		rr.e += m
		if err != nil && rr.e-rr.s < n {
			if err == io.EOF && rr.e > rr.s {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// next reads one record, handing its content to piece as it arrives, in
// one or more pieces valid only during the call; an END_REQUEST's content
// comes whole.
func (rr *recordReader) next(piece func(h wire.Header, content []byte) error) (wire.Header, error) {
	if err := rr.fill(wire.HeaderLen); err != nil {
		return wire.Header{}, err
	}
	h, err := wire.ParseHeader(rr.buf[rr.s:])
	if err != nil {
		return h, err
	}
	rr.s += wire.HeaderLen
	left := int(h.ContentLength)
	if h.Type == wire.TypeEndRequest {
		if err := rr.fill(left); err != nil {
			return h, unexpected(err)
		}
		err = piece(h, rr.buf[rr.s:rr.s+left])
		rr.s += left
		left = 0
	}
	for left > 0 && err == nil {
		if rr.s == rr.e {
			rr.s, rr.e = 0, 0
			if err := rr.fill(1); err != nil {
				return h, unexpected(err)
			}
		}
		n := min(left, rr.e-rr.s)
		err = piece(h, rr.buf[rr.s:rr.s+n])
		rr.s += n
		left -= n
	}
	if err != nil {
		return h, err
	}
	if err := rr.fill(int(h.PaddingLength)); err != nil {
		return h, unexpected(err)
	}
	rr.s += int(h.PaddingLength)
	return h, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
