package cgienv

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxHead bounds a script's response head when ParseHead is given no
// limit: a script that has not ended its head by then is sending garbage.
const DefaultMaxHead = 64 << 10

var (
	// ErrIncompleteHead means the bytes so far hold no complete head yet:
	// read more and call ParseHead again.
	ErrIncompleteHead = errors.New("cgienv: incomplete response head")
	// ErrHeadTooLarge means no head ended within the limit.
	ErrHeadTooLarge = errors.New("cgienv: response head too large")
	// ErrBadHead is wrapped by every error about a malformed head; the
	// wrapping error says what and on which line.
	ErrBadHead = errors.New("cgienv: invalid response head")
)

// headNeeds says what a CGI response head is, for the errors about heads
// that are not one: the usual cause is a script that prints its body
// first, or forgets the empty line, and the operator reading the log may
// never have written a CGI script.
const headNeeds = "a CGI response must start with header lines such as Content-Type: text/html, then an empty line"

// Field is one header field of a response head.
type Field struct{ Name, Value string }

// Head is a script's response head (RFC 3875 section 6.3).
type Head struct {
	// Status is the HTTP status. 0 means a local redirect (a Location
	// starting with "/" and no Status): no Status line is sent and the web
	// server decides.
	Status int
	Reason string  // reason phrase; "" when the code has none
	Fields []Field // header fields in the script's order, without Status
}

// ParseHead parses the script's response head at the start of b and
// returns it with the number of bytes it took, through the blank line.
//
// Lines may end in LF or CRLF, mixed. The head must have a Content-Type, a
// Location or a Status (RFC 3875 section 6.2). Without Status the status is
// 200 OK, or 302 Found for a Location that is not a local path, or 0 (see
// Head.Status) for a local redirect. With nph the first line is the
// script's own "HTTP/1.x NNN reason" status line.
//
// Until b holds a complete head it returns ErrIncompleteHead, or an error
// wrapping ErrHeadTooLarge once len(b) >= max (max <= 0 means
// DefaultMaxHead). Complete lines are checked as they arrive, so a script
// writing garbage is caught at its first bad line (error wrapping
// ErrBadHead) rather than at the limit. Each call rescans b from the start.
func ParseHead(b []byte, nph bool, max int) (Head, int, error) {
	if max <= 0 {
		max = DefaultMaxHead
	}
	win := b
	if len(win) > max {
		win = win[:max]
	}
	var (
		h                    Head
		sawType, sawLocation bool
		sawStatus            bool
		location             string
	)
	off := 0
	for n := 1; ; n++ {
		nl := bytes.IndexByte(win[off:], '\n')
		if nl < 0 {
			if len(b) >= max {
				return Head{}, 0, fmt.Errorf("%w: no blank line within %d bytes; %s", ErrHeadTooLarge, max, headNeeds)
			}
			return Head{}, 0, ErrIncompleteHead
		}
		line := win[off : off+nl]
		off += nl + 1
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if nph && n == 1 {
			code, reason, err := parseStatusLine(line)
			if err != nil {
				return Head{}, 0, badHead(n, err.Error())
			}
			h.Status, h.Reason, sawStatus = code, reason, true
			continue
		}
		if len(line) == 0 {
			break
		}
		name, value, err := parseField(line)
		if err != nil {
			return Head{}, 0, badHead(n, err.Error())
		}
		switch {
		case strings.EqualFold(name, "Status"):
			if sawStatus {
				return Head{}, 0, badHead(n, "second Status")
			}
			code, reason, err := parseStatus(value)
			if err != nil {
				return Head{}, 0, badHead(n, err.Error())
			}
			h.Status, h.Reason, sawStatus = code, reason, true
			continue
		case strings.EqualFold(name, "Location"):
			if sawLocation {
				return Head{}, 0, badHead(n, "second Location")
			}
			if value == "" {
				return Head{}, 0, badHead(n, "empty Location")
			}
			sawLocation, location = true, value
		case strings.EqualFold(name, "Content-Type"):
			sawType = true
		}
		h.Fields = append(h.Fields, Field{Name: name, Value: value})
	}
	switch {
	case sawStatus:
	case sawLocation && isLocalPath(location):
		// Status stays 0: a local redirect, the server's to follow.
	case sawLocation:
		h.Status, h.Reason = 302, StatusText(302)
	case sawType:
		h.Status, h.Reason = 200, StatusText(200)
	default:
		return Head{}, 0, fmt.Errorf("%w: no Content-Type, Location or Status; %s", ErrBadHead, headNeeds)
	}
	return h, off, nil
}

// UnendedHead is the error for a script whose output ended, after the
// bytes in b, before its head did: ParseHead still said ErrIncompleteHead.
func UnendedHead(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: the script wrote nothing to stdout; %s", ErrBadHead, headNeeds)
	}
	return fmt.Errorf("%w: output ended after %d bytes without the empty line that ends the head; %s", ErrBadHead, len(b), headNeeds)
}

func badHead(line int, msg string) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadHead, line, msg)
}

// isLocalPath reports whether a Location names a path on this server
// (RFC 3875 section 6.2.2) rather than a URI for the client; "//host/..."
// is a network-path reference, so it is the client's.
func isLocalPath(loc string) bool {
	return strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")
}

// parseStatusLine parses an NPH script's "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (int, string, error) {
	s := string(line)
	if len(s) < len("HTTP/1.x ") || s[:7] != "HTTP/1." || !isDigit(s[7]) || s[8] != ' ' {
		return 0, "", errors.New(`NPH status line does not start with "HTTP/1.x "`)
	}
	return parseStatus(s[9:])
}

// parseStatus parses "NNN reason" (RFC 3875 section 6.3.3): three digits,
// then optionally whitespace and a reason phrase.
func parseStatus(v string) (int, string, error) {
	if len(v) < 3 || !isDigit(v[0]) || !isDigit(v[1]) || !isDigit(v[2]) || v[0] == '0' {
		return 0, "", fmt.Errorf("status %q is not a 3-digit code 100-999", v)
	}
	code := int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
	rest := v[3:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, "", fmt.Errorf("status %q is not a 3-digit code 100-999", v)
	}
	reason := trimOWS(rest)
	if !validValue(reason) {
		return 0, "", errors.New("control character in reason phrase")
	}
	if reason == "" {
		reason = StatusText(code)
	}
	return code, reason, nil
}

// parseField splits "Name: value" (RFC 9110 section 5), refusing what a
// web server would misread: obs-fold, a missing colon, a name that is not
// a token, control characters (NUL among them) in the value.
func parseField(line []byte) (string, string, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return "", "", errors.New("continuation line (obs-fold)")
	}
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return "", "", errors.New("header line without ':'; " + headNeeds)
	}
	name := string(line[:i])
	if !validToken(name) {
		return "", "", fmt.Errorf("invalid field name %q", name)
	}
	value := trimOWS(string(line[i+1:]))
	if !validValue(value) {
		if strings.IndexByte(value, 0) >= 0 {
			return "", "", fmt.Errorf("NUL in field %s", name)
		}
		return "", "", fmt.Errorf("control character in field %s", name)
	}
	return name, value, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// validToken reports whether s is an RFC 9110 token (a field name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether s may stand as a field value: no control
// characters except horizontal tab. Bytes >= 0x80 (obs-text) pass, since
// scripts do send Latin-1 and UTF-8.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
