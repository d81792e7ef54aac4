package main

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// maxHead bounds the response head the checker keeps; the scripts under
// test send a few dozen bytes, so more means something is wrong.
const maxHead = 8 << 10

var errHeadTooLong = errors.New("bench: response head longer than 8 KiB")

// respCheck is the stdout of a benchmark request: it keeps the CGI response
// head to learn the status, then only counts body bytes, so a 1 GiB
// response costs the load generator no memory.
type respCheck struct {
	head     []byte
	headDone bool
	status   int
	body     int64
}

func (w *respCheck) Write(p []byte) (int, error) {
	if w.headDone {
		w.body += int64(len(p))
		return len(p), nil
	}
	// Search from a little before the new bytes: the blank line may be
	// split across two records.
	from := max(len(w.head)-3, 0)
	w.head = append(w.head, p...)
	end, sep := headEnd(w.head[from:])
	if end < 0 {
		if len(w.head) > maxHead {
			return 0, errHeadTooLong
		}
		return len(p), nil
	}
	end += from
	w.headDone = true
	w.body = int64(len(w.head) - end - sep)
	w.head = w.head[:end]
	w.status = headStatus(w.head)
	return len(p), nil
}

// headEnd finds the blank line that ends a CGI head, which RFC 3875
// section 6.3 allows as CRLF CRLF or bare LF LF; it returns where the
// head's last line ends and the separator's length.
func headEnd(b []byte) (end, sep int) {
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf < 0 && lf < 0:
		return -1, 0
	case lf < 0 || (crlf >= 0 && crlf < lf):
		return crlf, 4
	default:
		return lf, 2
	}
}

// headStatus reads a Status header (RFC 3875 section 6.3.3); a head
// without one means 200, and a malformed one 0 so it counts as a failure.
func headStatus(head []byte) int {
	for line := range strings.Lines(string(head)) {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "Status") {
			continue
		}
		code, _, _ := strings.Cut(strings.TrimSpace(value), " ")
		n, err := strconv.Atoi(code)
		if err != nil || len(code) != 3 {
			return 0
		}
		return n
	}
	return 200
}

// complete reports whether a whole head arrived.
func (w *respCheck) complete() bool { return w.headDone }
