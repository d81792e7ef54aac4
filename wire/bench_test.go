package wire

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

// tinyRequest is what nginx sends for a small GET with its default
// fastcgi_params: BEGIN_REQUEST, one PARAMS record, the empty PARAMS and
// the empty STDIN, all in one write.
func tinyRequest(id uint16, keep bool) []byte {
	b := begin(id, RoleResponder, keep,
		"QUERY_STRING", "", "REQUEST_METHOD", "GET", "CONTENT_TYPE", "", "CONTENT_LENGTH", "",
		"SCRIPT_NAME", "/cgi-bin/tiny.cgi", "REQUEST_URI", "/cgi-bin/tiny.cgi", "DOCUMENT_URI", "/cgi-bin/tiny.cgi",
		"DOCUMENT_ROOT", "/srv/www", "SERVER_PROTOCOL", "HTTP/1.1", "REQUEST_SCHEME", "http",
		"GATEWAY_INTERFACE", "CGI/1.1", "SERVER_SOFTWARE", "nginx/1.22.1", "REMOTE_ADDR", "127.0.0.1",
		"REMOTE_PORT", "51234", "SERVER_ADDR", "127.0.0.1", "SERVER_PORT", "80", "SERVER_NAME", "localhost",
		"REDIRECT_STATUS", "200", "SCRIPT_FILENAME", "/srv/www/cgi-bin/tiny.cgi",
		"HTTP_HOST", "localhost", "HTTP_USER_AGENT", "load/1.0", "HTTP_ACCEPT", "*/*")
	return append(b, rawRec(TypeStdin, id, nil, 0)...)
}

// tinyBody is the whole response a tiny CGI script writes.
var tinyBody = []byte("Content-Type: text/plain\r\n\r\nhello\n")

// tinyHandler answers as a tiny CGI script does: one short write, kept
// back to leave with the end of the request.
var tinyHandler = HandlerFunc(func(ctx context.Context, req *Request) uint32 {
	if req.Params["SCRIPT_FILENAME"] == "" {
		return 1
	}
	if _, err := req.Stdout.Delay(tinyBody, waitTimeout); err != nil {
		return 1
	}
	return 0
})

// benchServer serves tinyHandler on a unix socket until the benchmark ends.
func benchServer(b *testing.B) string {
	b.Helper()
	srv := &Server{Handler: tinyHandler}
	ln, err := net.Listen("unix", "")
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln) }()
	b.Cleanup(func() {
		srv.Close()
		<-errc
	})
	return ln.Addr().String()
}

// tinyResponse is the exact reply to tinyRequest(1, ...) from tinyHandler.
func tinyResponse() []byte {
	b := AppendRecord(nil, TypeStdout, 1, tinyBody)
	b = AppendRecord(b, TypeStdout, 1, nil)
	return AppendEndRequest(b, 1, EndRequest{})
}

// BenchmarkRequest measures one tiny request's trip through the server:
// per connection, as nginx without keepalive sends it, and on a kept
// connection. allocs/op counts the client's side too (dialling, for "conn").
func BenchmarkRequest(b *testing.B) {
	want := tinyResponse()
	b.Run("conn", func(b *testing.B) {
		addr := benchServer(b)
		req := tinyRequest(1, false)
		got := make([]byte, 0, 4<<10)
		b.ReportAllocs()
		for b.Loop() {
			c, err := net.Dial("unix", addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			// The server closes the connection after END_REQUEST.
			buf := bytes.NewBuffer(got[:0])
			if _, err := buf.ReadFrom(c); err != nil {
				b.Fatal(err)
			}
			c.Close()
			if !bytes.Equal(buf.Bytes(), want) {
				b.Fatalf("got % x, want % x", buf.Bytes(), want)
			}
		}
	})
	b.Run("keepconn", func(b *testing.B) {
		addr := benchServer(b)
		c, err := net.Dial("unix", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		req := tinyRequest(1, true)
		got := make([]byte, len(want))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, got); err != nil {
				b.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				b.Fatalf("got % x, want % x", got, want)
			}
		}
	})
}

func BenchmarkReadRecord(b *testing.B) {
	one := rawRec(TypeStdin, 1, bytes.Repeat([]byte{'x'}, 32<<10), 0)
	in := bytes.Repeat(one, 64)
	buf := make([]byte, RecordBufSize)
	r := bytes.NewReader(in)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if r.Len() == 0 {
			r.Reset(in)
		}
		if _, err := ReadRecord(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPairs(b *testing.B) {
	var in []byte
	for _, p := range [][2]string{
		{"SCRIPT_FILENAME", "/srv/www/cgi-bin/app.cgi"}, {"QUERY_STRING", "a=1&b=2"},
		{"REQUEST_METHOD", "GET"}, {"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""},
		{"SCRIPT_NAME", "/cgi-bin/app.cgi"}, {"REQUEST_URI", "/cgi-bin/app.cgi?a=1&b=2"},
		{"DOCUMENT_ROOT", "/srv/www"}, {"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REMOTE_ADDR", "192.0.2.1"}, {"REMOTE_PORT", "51234"}, {"SERVER_NAME", "example.org"},
		{"HTTP_USER_AGENT", strings.Repeat("Mozilla/5.0 ", 12)}, {"HTTP_ACCEPT", "*/*"},
	} {
		in = AppendPair(in, p[0], p[1])
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		// What the server does with a request's PARAMS.
		m, n, err := pairsMap(string(in), defaultParamCount)
		if err != nil || len(m) != n {
			b.Fatalf("got %d params of %d, %v", len(m), n, err)
		}
	}
}
