package wire

import (
	"encoding/binary"
	"errors"
	"io"
)

// RecordBufSize is the smallest buffer with which ReadRecord never allocates:
// the largest content plus the largest padding.
const RecordBufSize = MaxContent + maxPadding

var (
	errBeginLen = errors.New("wire: BEGIN_REQUEST body is not 8 bytes")
	errEndLen   = errors.New("wire: END_REQUEST body is not 8 bytes")
)

// Record is one FastCGI record (spec section 3.3).
type Record struct {
	Header
	Content []byte
}

// ReadRecord reads one record from r. Content aliases buf when buf holds
// content and padding (len(buf) >= RecordBufSize always does); otherwise it
// is freshly allocated. Padding of any length is read and discarded.
//
// A clean end of input before the header gives io.EOF; input that ends
// inside a record gives io.ErrUnexpectedEOF; a version other than 1 gives an
// error and the header read so far.
func ReadRecord(r io.Reader, buf []byte) (Record, error) {
	var rec Record
	if len(buf) < headerLen {
		buf = make([]byte, RecordBufSize)
	}
	if _, err := io.ReadFull(r, buf[:headerLen]); err != nil {
		return rec, err
	}
	return readBody(r, buf[:headerLen], buf)
}

// readBody reads the content and padding of the record whose header is
// hdr, into buf as ReadRecord does.
func readBody(r io.Reader, hdr, buf []byte) (Record, error) {
	var rec Record
	h, err := parseHeader(hdr)
	rec.Header = h
	if err != nil {
		return rec, err
	}
	n := int(h.ContentLength) + int(h.PaddingLength)
	if len(buf) < n {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return rec, err
	}
	rec.Content = buf[:h.ContentLength:h.ContentLength]
	return rec, nil
}

// AppendRecord appends one record of type t for request id, with content
// padded to 8-byte alignment. It panics if content is longer than
// MaxContent: splitting a stream is the caller's job.
func AppendRecord(dst []byte, t RecType, id uint16, content []byte) []byte {
	if len(content) > MaxContent {
		panic("wire: AppendRecord content longer than MaxContent")
	}
	p := padLen(len(content))
	dst = appendHeader(dst, t, id, len(content), p)
	dst = append(dst, content...)
	return append(dst, zeros[:p]...)
}

// AppendBeginRequest appends a BEGIN_REQUEST record (spec section 5.1);
// flags is 0 or FlagKeepConn.
func AppendBeginRequest(dst []byte, id uint16, role Role, flags uint8) []byte {
	dst = appendHeader(dst, TypeBeginRequest, id, 8, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(role))
	return append(dst, flags, 0, 0, 0, 0, 0)
}

// AppendRequestHead appends what opens a request, as a client sends it:
// BEGIN_REQUEST, the params as name-value pairs split over PARAMS records
// of at most MaxContent, and the empty PARAMS that ends them.
func AppendRequestHead(dst []byte, id uint16, role Role, flags uint8, params []Pair) []byte {
	dst = AppendBeginRequest(dst, id, role, flags)
	var pairs []byte
	for _, p := range params {
		pairs = AppendPair(pairs, p.Name, p.Value)
	}
	for len(pairs) > 0 {
		n := min(len(pairs), MaxContent)
		dst = AppendRecord(dst, TypeParams, id, pairs[:n])
		pairs = pairs[n:]
	}
	return AppendRecord(dst, TypeParams, id, nil)
}

// ParseBeginRequest decodes the content of a BEGIN_REQUEST record.
func ParseBeginRequest(content []byte) (role Role, flags uint8, err error) {
	if len(content) != 8 {
		return 0, 0, errBeginLen
	}
	return Role(binary.BigEndian.Uint16(content)), content[2], nil
}

// EndRequest is the body of an END_REQUEST record (spec section 5.5).
type EndRequest struct {
	AppStatus      uint32
	ProtocolStatus ProtocolStatus
}

// AppendEndRequest appends an END_REQUEST record.
func AppendEndRequest(dst []byte, id uint16, e EndRequest) []byte {
	dst = appendHeader(dst, TypeEndRequest, id, 8, 0)
	dst = binary.BigEndian.AppendUint32(dst, e.AppStatus)
	return append(dst, byte(e.ProtocolStatus), 0, 0, 0)
}

// ParseEndRequest decodes the content of an END_REQUEST record.
func ParseEndRequest(content []byte) (EndRequest, error) {
	if len(content) != 8 {
		return EndRequest{}, errEndLen
	}
	return EndRequest{
		AppStatus:      binary.BigEndian.Uint32(content),
		ProtocolStatus: ProtocolStatus(content[4]),
	}, nil
}

// AppendUnknownType appends the UNKNOWN_TYPE reply to a management record
// of type t (spec section 4.2).
func AppendUnknownType(dst []byte, t RecType) []byte {
	dst = appendHeader(dst, TypeUnknownType, 0, 8, 0)
	return append(dst, byte(t), 0, 0, 0, 0, 0, 0, 0)
}
