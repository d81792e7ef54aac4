package main

// The http command of the integration suite: the client that scripts send
// through the real web servers, with a deadline on every request.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// httpDeadline bounds one HTTP exchange: the big transfers (256 MiB, a
// 50 MB clone) run through the race-instrumented test binary.
const httpDeadline = 90 * time.Second

type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// http [-X METHOD] [-H 'Name: value']... [-d DATA|@FILE] [-u USER:PASS]
// [-chunked] [-hash] [-pieces MIN] URL: one HTTP/1.1 request, as a browser
// would send it; -chunked sends the body without a Content-Length, as
// chunks, so only a server that reads it all first can tell the script its
// length. Prints "HTTP <status>", the response headers sorted, a blank line and
// the body. -hash prints "body: N bytes sha256 HEX" instead of the body, for
// transfers too big to keep. -pieces fails unless the body's lines came in
// at least MIN separate reads (streamed output arrives as it is written,
// buffered output all at once), and prints "pieces: L lines in R reads".
// Any status is a success; check it with stdout.
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	fs.SetOutput(ts.Stderr())
	method := fs.String("X", "", "request method (default GET, or POST with -d)")
	var headers headerFlags
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable)")
	data := fs.String("d", "", "request body: DATA, or @FILE")
	user := fs.String("u", "", "basic auth USER:PASS")
	hash := fs.Bool("hash", false, "print the body's size and sha256 instead of the body")
	pieces := fs.Int("pieces", 0, "fail unless the body's lines arrive in at least this many reads")
	chunked := fs.Bool("chunked", false, "send the request body chunked, without Content-Length")
	if neg || fs.Parse(args) != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: http [-X METHOD] [-H 'Name: value']... [-d DATA|@FILE] [-u USER:PASS] [-chunked] [-hash] [-pieces MIN] URL")
	}

	ctx, cancel := context.WithTimeout(context.Background(), httpDeadline)
	defer cancel()
	var body io.Reader
	size := int64(0)
	if strings.HasPrefix(*data, "@") {
		f, err := os.Open(ts.MkAbs((*data)[1:]))
		ts.Check(err)
		defer f.Close()
		fi, err := f.Stat()
		ts.Check(err)
		body, size = f, fi.Size()
	} else if *data != "" {
		body, size = strings.NewReader(*data), int64(len(*data))
	}
	if *method == "" {
		*method = "GET"
		if body != nil {
			*method = "POST"
		}
	}
	req, err := http.NewRequestWithContext(ctx, *method, fs.Arg(0), body)
	ts.Check(err)
	req.ContentLength = size
	if *chunked && body != nil {
		req.ContentLength = -1
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			ts.Fatalf("-H %q: want 'Name: value'", h)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if u, p, ok := strings.Cut(*user, ":"); ok {
		req.SetBasicAuth(u, p)
	}

	// A fresh connection per command, and the body exactly as sent.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()

	out := ts.Stdout()
	fmt.Fprintf(out, "HTTP %d\n", resp.StatusCode)
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range resp.Header[name] {
			fmt.Fprintf(out, "%s: %s\n", name, v)
		}
	}
	fmt.Fprintln(out)

	switch {
	case *hash:
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		ts.Check(err)
		fmt.Fprintf(out, "body: %d bytes sha256 %s\n", n, hex.EncodeToString(h.Sum(nil)))
	case *pieces > 0:
		lines, reads := countPieces(ts, resp.Body, out)
		fmt.Fprintf(out, "pieces: %d lines in %d reads\n", lines, reads)
		if reads < *pieces {
			ts.Fatalf("the %d lines arrived in %d reads, want at least %d: the response was buffered, not streamed", lines, reads, *pieces)
		}
	default:
		_, err := io.Copy(out, resp.Body)
		ts.Check(err)
	}
}

// countPieces copies body to out and counts the lines, and the reads in
// which at least one line ended. No clock is involved: a body held back and
// sent whole comes in one or two reads, whatever the machine's speed.
func countPieces(ts *testscript.TestScript, body io.Reader, out io.Writer) (lines, reads int) {
	buf := make([]byte, 64<<10)
	for {
		n, err := body.Read(buf)
		if k := bytes.Count(buf[:n], []byte("\n")); k > 0 {
			lines += k
			reads++
		}
		out.Write(buf[:n])
		if err == io.EOF {
			return lines, reads
		}
		ts.Check(err)
	}
}
