package cgienv

import (
	"net/http"
	"strconv"
	"strings"
)

// StatusText returns the reason phrase for an HTTP status code, or "" if
// the code has none.
func StatusText(code int) string { return http.StatusText(code) }

// AppendTo appends the head as a CGI response head for the web server:
// "Status: NNN Reason" (left out when Status is 0, a local redirect), the
// fields as "Name: value", each line ending in CRLF, then the blank line.
func (h *Head) AppendTo(dst []byte) []byte {
	if h.Status != 0 {
		dst = appendStatus(dst, h.Status, h.Reason)
	}
	for _, f := range h.Fields {
		dst = appendField(dst, f.Name, f.Value)
	}
	return append(dst, "\r\n"...)
}

// AppendError appends a complete CGI response for an error the wrapper
// answers itself: Status, a plain-text Content-Type, the extra fields (e.g.
// Retry-After), the blank line and a one-line body like
// "503 Service Unavailable\n". It never says more than the status, so no
// path or other detail reaches the client. A status outside 100-999 is
// sent as 500. Extra fields that could not be sent intact (invalid name or
// value) or that would repeat Status or Content-Type are left out.
func AppendError(dst []byte, status int, extra ...Field) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	reason := StatusText(status)
	dst = appendStatus(dst, status, reason)
	dst = appendField(dst, "Content-Type", "text/plain; charset=utf-8")
	for _, f := range extra {
		if !validToken(f.Name) || !validValue(f.Value) ||
			strings.EqualFold(f.Name, "Status") || strings.EqualFold(f.Name, "Content-Type") {
			continue
		}
		dst = appendField(dst, f.Name, f.Value)
	}
	dst = append(dst, "\r\n"...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	if reason != "" {
		dst = append(dst, ' ')
		dst = append(dst, reason...)
	}
	return append(dst, '\n')
}

func appendStatus(dst []byte, code int, reason string) []byte {
	dst = append(dst, "Status: "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	if reason == "" {
		reason = StatusText(code)
	}
	if reason != "" {
		dst = append(dst, ' ')
		dst = append(dst, reason...)
	}
	return append(dst, "\r\n"...)
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}
