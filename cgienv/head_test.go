package cgienv

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// crlf turns a head written with "\n" into the CRLF form.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func fields(kv ...string) []Field {
	var fs []Field
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, Field{Name: kv[i], Value: kv[i+1]})
	}
	return fs
}

func TestParseHead(t *testing.T) {
	const body = "<html>body</html>\n"
	tests := []struct {
		name    string
		in      string // the script's output; the head is followed by body
		nph     bool
		want    Head
		wantErr string // substring of the error; "" for success
	}{
		{name: "LF", in: "Content-Type: text/html\n\n",
			want: Head{Status: 200, Reason: "OK", Fields: fields("Content-Type", "text/html")}},
		{name: "CRLF", in: crlf("Content-Type: text/html\nX-A: 1\n\n"),
			want: Head{Status: 200, Reason: "OK", Fields: fields("Content-Type", "text/html", "X-A", "1")}},
		{name: "mixed", in: "Content-Type: text/html\r\nX-A: 1\nX-B: 2\r\n\n",
			want: Head{Status: 200, Reason: "OK", Fields: fields("Content-Type", "text/html", "X-A", "1", "X-B", "2")}},
		{name: "blank line CRLF after LF lines", in: "Content-Type: a\n\r\n",
			want: Head{Status: 200, Reason: "OK", Fields: fields("Content-Type", "a")}},
		{name: "whitespace trimmed and case kept", in: "content-type:\t text/plain  \nx-empty:\n\n",
			want: Head{Status: 200, Reason: "OK", Fields: fields("content-type", "text/plain", "x-empty", "")}},
		{name: "repeated fields kept in order", in: "Set-Cookie: a=1\nContent-Type: t\nSet-Cookie: b=2\n\n",
			want: Head{Status: 200, Reason: "OK", Fields: fields("Set-Cookie", "a=1", "Content-Type", "t", "Set-Cookie", "b=2")}},
		{name: "obs-text value", in: "Content-Type: t\nX-Name: caf\xe9\n\n",
			want: Head{Status: 200, Reason: "OK", Fields: fields("Content-Type", "t", "X-Name", "caf\xe9")}},

		{name: "status passthrough", in: "Status: 404 Not Here\nContent-Type: text/plain\n\n",
			want: Head{Status: 404, Reason: "Not Here", Fields: fields("Content-Type", "text/plain")}},
		{name: "status without reason", in: "status: 201\n\n", want: Head{Status: 201, Reason: "Created"}},
		{name: "status unknown code without reason", in: "Status: 599\n\n", want: Head{Status: 599}},
		{name: "status 999 with tab", in: "Status: 999\tWeird  one \n\n", want: Head{Status: 999, Reason: "Weird  one"}},
		{name: "status alone is enough", in: "Status: 204 No Content\n\n", want: Head{Status: 204, Reason: "No Content"}},
		{name: "status with location", in: "Status: 301 Moved Permanently\nLocation: /new\n\n",
			want: Head{Status: 301, Reason: "Moved Permanently", Fields: fields("Location", "/new")}},

		{name: "client redirect", in: "Location: https://example.org/x\n\n",
			want: Head{Status: 302, Reason: "Found", Fields: fields("Location", "https://example.org/x")}},
		{name: "client redirect network path", in: "Location: //example.org/x\n\n",
			want: Head{Status: 302, Reason: "Found", Fields: fields("Location", "//example.org/x")}},
		{name: "client redirect with document", in: "Location: http://h/\nContent-Type: text/html\n\n",
			want: Head{Status: 302, Reason: "Found", Fields: fields("Location", "http://h/", "Content-Type", "text/html")}},
		{name: "local redirect", in: "Location: /cgi-bin/other.cgi?x=1\n\n",
			want: Head{Status: 0, Fields: fields("Location", "/cgi-bin/other.cgi?x=1")}},

		{name: "nph", nph: true, in: crlf("HTTP/1.1 200 OK\nContent-Type: text/plain\nConnection: close\n\n"),
			want: Head{Status: 200, Reason: "OK", Fields: fields("Content-Type", "text/plain", "Connection", "close")}},
		{name: "nph 1.0 without reason", nph: true, in: "HTTP/1.0 304\n\n", want: Head{Status: 304, Reason: "Not Modified"}},
		{name: "nph status line only", nph: true, in: "HTTP/1.1 418 Teapot\n\n", want: Head{Status: 418, Reason: "Teapot"}},
		{name: "nph bad status line", nph: true, in: "Content-Type: text/plain\n\n", wantErr: `line 1: NPH status line does not start with "HTTP/1.x "`},
		{name: "nph HTTP/2", nph: true, in: "HTTP/2 200\n\n", wantErr: "NPH status line"},
		{name: "nph bad code", nph: true, in: "HTTP/1.1 20 OK\n\n", wantErr: "not a 3-digit code"},
		{name: "nph empty", nph: true, in: "\n\n", wantErr: "NPH status line"},
		{name: "nph with Status field", nph: true, in: "HTTP/1.1 200 OK\nStatus: 500\n\n", wantErr: "line 2: second Status"},

		{name: "missing content-type", in: "X-Powered-By: sh\n\n", wantErr: "no Content-Type, Location or Status"},
		{name: "empty head", in: "\n", wantErr: "no Content-Type, Location or Status"},
		{name: "empty head CRLF", in: "\r\n", wantErr: "no Content-Type, Location or Status"},
		{name: "bad status letters", in: "Status: abc\n\n", wantErr: "line 1: status \"abc\" is not a 3-digit code"},
		{name: "bad status 4 digits", in: "Status: 2000 OK\n\n", wantErr: "not a 3-digit code"},
		{name: "bad status leading zero", in: "Status: 099 Low\n\n", wantErr: "not a 3-digit code"},
		{name: "bad status short", in: "Status: 20\n\n", wantErr: "not a 3-digit code"},
		{name: "bad status empty", in: "Status:\n\n", wantErr: "not a 3-digit code"},
		{name: "bad status reason control", in: "Status: 200 O\x01K\n\n", wantErr: "control character in field Status"},
		{name: "second status", in: "Status: 200\nStatus: 404\n\n", wantErr: "line 2: second Status"},
		{name: "second location", in: "Location: /a\nLocation: /b\n\n", wantErr: "line 2: second Location"},
		{name: "empty location", in: "Location:   \n\n", wantErr: "empty Location"},
		{name: "no colon", in: "Content-Type: t\nHello world\n\n", wantErr: "line 2: header line without ':'"},
		{name: "obs-fold", in: "Content-Type: t\n  continued\n\n", wantErr: "line 2: continuation line (obs-fold)"},
		{name: "space before colon", in: "Content-Type : t\n\n", wantErr: `invalid field name "Content-Type "`},
		{name: "empty name", in: ": t\n\n", wantErr: `invalid field name ""`},
		{name: "NUL in value", in: "Content-Type: te\x00xt\n\n", wantErr: "NUL in field Content-Type"},
		{name: "NUL in name", in: "Conte\x00nt-Type: t\n\n", wantErr: "invalid field name"},
		{name: "bare CR in value", in: "Content-Type: a\rb\n\n", wantErr: "control character in field Content-Type"},
		{name: "CR CR LF", in: "Content-Type: a\r\r\n\n", wantErr: "control character"},
		{name: "DEL in value", in: "Content-Type: a\x7f\n\n", wantErr: "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in + body)
			got, n, err := ParseHead(in, tt.nph, 0)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadHead) {
					t.Fatalf("got %+v, %v; want ErrBadHead containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if n != len(tt.in) {
				t.Errorf("got %d bytes consumed, want %d", n, len(tt.in))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestParseHeadIncomplete feeds every prefix of valid heads: each must ask
// for more bytes, never fail or succeed early.
func TestParseHeadIncomplete(t *testing.T) {
	heads := []struct {
		name string
		in   string
		nph  bool
	}{
		{"LF", "Content-Type: text/html\nX-A: 1\n\n", false},
		{"CRLF", "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", false},
		{"mixed", "Location: /x\r\nX-A: 1\n\r\n", false},
		{"nph", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", true},
	}
	for _, h := range heads {
		t.Run(h.name, func(t *testing.T) {
			want, wantN, err := ParseHead([]byte(h.in), h.nph, 0)
			if err != nil || wantN != len(h.in) {
				t.Fatalf("got %d, %v for the whole head, want %d, nil", wantN, err, len(h.in))
			}
			for i := 0; i < len(h.in); i++ {
				_, _, err := ParseHead([]byte(h.in[:i]), h.nph, 0)
				if err != ErrIncompleteHead {
					t.Errorf("prefix %d %q: got %v, want ErrIncompleteHead", i, h.in[:i], err)
				}
			}
			// Whatever follows the head does not change it.
			got, n, err := ParseHead([]byte(h.in+"\nStatus: garbage\x00\n\n"), h.nph, 0)
			if err != nil || n != wantN || !reflect.DeepEqual(got, want) {
				t.Errorf("with trailing bytes: got %+v, %d, %v; want %+v, %d, nil", got, n, err, want, wantN)
			}
		})
	}
}

func TestParseHeadLimit(t *testing.T) {
	head := "Content-Type: text/plain\r\n\r\n" // 28 bytes
	tests := []struct {
		name    string
		in      string
		max     int
		wantErr error
		wantN   int
	}{
		{name: "fits exactly", in: head + "body", max: len(head), wantN: len(head)},
		{name: "one byte short", in: head + "body", max: len(head) - 1, wantErr: ErrHeadTooLarge},
		{name: "incomplete below limit", in: "Content-Type: text/plain\r\n", max: 100, wantErr: ErrIncompleteHead},
		{name: "incomplete at limit", in: "Content-Type: text/plain\r\n", max: 26, wantErr: ErrHeadTooLarge},
		{name: "one long line", in: "X-Long: " + strings.Repeat("a", 200), max: 100, wantErr: ErrHeadTooLarge},
		{name: "zero max means default", in: "Content-Type: t\nX: " + strings.Repeat("a", DefaultMaxHead), max: 0, wantErr: ErrHeadTooLarge},
		{name: "default fits", in: "Content-Type: t\nX: " + strings.Repeat("a", DefaultMaxHead-30) + "\n\n", max: -1, wantN: DefaultMaxHead - 30 + 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, n, err := ParseHead([]byte(tt.in), false, tt.max)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if n != tt.wantN {
				t.Errorf("got %d bytes consumed, want %d", n, tt.wantN)
			}
		})
	}
}

// TestParseHeadEarlyGarbage pins that a script printing a body without a
// head is caught at its first line, not after DefaultMaxHead bytes.
func TestParseHeadEarlyGarbage(t *testing.T) {
	_, _, err := ParseHead([]byte("Hello, world!\nmore"), false, 0)
	if !errors.Is(err, ErrBadHead) {
		t.Errorf("got %v, want ErrBadHead", err)
	}
}

func TestAppendTo(t *testing.T) {
	tests := []struct {
		name string
		head Head
		want string
	}{
		{"status and fields", Head{Status: 404, Reason: "Not Here", Fields: fields("Content-Type", "text/plain", "X-A", "")},
			"Status: 404 Not Here\r\nContent-Type: text/plain\r\nX-A: \r\n\r\n"},
		{"reason filled in", Head{Status: 200, Fields: fields("Content-Type", "t")}, "Status: 200 OK\r\nContent-Type: t\r\n\r\n"},
		{"unknown code", Head{Status: 599}, "Status: 599\r\n\r\n"},
		{"local redirect has no status", Head{Fields: fields("Location", "/x")}, "Location: /x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.head.AppendTo([]byte("pre:"))
			if string(got) != "pre:"+tt.want {
				t.Errorf("got %q, want %q", got, "pre:"+tt.want)
			}
		})
	}
}

func TestAppendError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		extra  []Field
		want   string
	}{
		{"404", 404, nil, "Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n404 Not Found\n"},
		{"503 retry", 503, fields("Retry-After", "1"),
			"Status: 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n\r\n503 Service Unavailable\n"},
		{"unknown code", 599, nil, "Status: 599\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n599\n"},
		{"out of range is 500", 42, nil, "Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n500 Internal Server Error\n"},
		{"unsafe extras left out", 502, fields("X-Bad\r\nInjected", "1", "X-V", "a\r\nb", "status", "200", "content-type", "text/html", "X-Ok", "yes"),
			"Status: 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nX-Ok: yes\r\n\r\n502 Bad Gateway\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendError(nil, tt.status, tt.extra...)
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// What we send must be a head our own parser accepts.
			h, n, err := ParseHead(got, false, 0)
			if err != nil || n != strings.Index(tt.want, "\r\n\r\n")+4 || h.Status < 100 {
				t.Errorf("re-parse: got %+v, %d, %v; want a valid head", h, n, err)
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	for _, tt := range []struct {
		code int
		want string
	}{{200, "OK"}, {404, "Not Found"}, {504, "Gateway Timeout"}, {599, ""}} {
		if got := StatusText(tt.code); got != tt.want {
			t.Errorf("StatusText(%d): got %q, want %q", tt.code, got, tt.want)
		}
	}
}

func BenchmarkParseHead(b *testing.B) {
	in := []byte(crlf("Status: 200 OK\nContent-Type: application/x-git-upload-pack-advertisement\nCache-Control: no-cache, max-age=0, must-revalidate\nExpires: Fri, 01 Jan 1980 00:00:00 GMT\nPragma: no-cache\n\n") + "001e# service=git-upload-pack\n")
	var dst []byte
	for b.Loop() {
		h, _, err := ParseHead(in, false, 0)
		if err != nil {
			b.Fatal(err)
		}
		dst = h.AppendTo(dst[:0])
	}
	if !bytes.HasPrefix(in, dst[:len("Status: 200 OK\r\n")]) {
		b.Fatalf("got %q", dst)
	}
}
