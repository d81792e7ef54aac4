package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// headerLen is the fixed size of a record header (FCGI_HEADER_LEN).
const headerLen = 8

// maxPadding is the largest padding a header can announce.
const maxPadding = 255

// zeros is the one padding source for every record we send; it is never
// written to.
var zeros [maxPadding]byte

var errBadVersion = errors.New("wire: unsupported protocol version")

// Header is a record header (FCGI_Header, spec section 3.3).
type Header struct {
	Version       uint8
	Type          RecType
	ID            uint16
	ContentLength uint16
	PaddingLength uint8
}

// padLen is the padding that brings n content bytes to 8-byte alignment, as
// the spec recommends for senders.
func padLen(n int) int { return -n & 7 }

func appendHeader(dst []byte, t RecType, id uint16, contentLen, paddingLen int) []byte {
	dst = append(dst, Version1, byte(t), 0, 0, 0, 0, byte(paddingLen), 0)
	h := dst[len(dst)-headerLen:]
	binary.BigEndian.PutUint16(h[2:], id)
	binary.BigEndian.PutUint16(h[4:], uint16(contentLen))
	return dst
}

// putHeader writes a header into b[:8] for records whose content follows in
// a separate buffer (the zero-copy output path).
func putHeader(b []byte, t RecType, id uint16, contentLen, paddingLen int) {
	b[0] = Version1
	b[1] = byte(t)
	binary.BigEndian.PutUint16(b[2:], id)
	binary.BigEndian.PutUint16(b[4:], uint16(contentLen))
	b[6] = byte(paddingLen)
	b[7] = 0
}

// HeaderLen is the size of a record header (FCGI_HEADER_LEN), for
// readers that parse records in place.
const HeaderLen = headerLen

// ParseHeader parses the record header in b[:HeaderLen]. It fails for a
// protocol version other than 1.
func ParseHeader(b []byte) (Header, error) { return parseHeader(b) }

func parseHeader(b []byte) (Header, error) {
	h := Header{
		Version:       b[0],
		Type:          RecType(b[1]),
		ID:            binary.BigEndian.Uint16(b[2:]),
		ContentLength: binary.BigEndian.Uint16(b[4:]),
		PaddingLength: b[6],
	}
	if h.Version != Version1 {
		return h, fmt.Errorf("%w %d", errBadVersion, h.Version)
	}
	return h, nil
}
