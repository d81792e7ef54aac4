package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// stdinScript prints what its stdin is, CONTENT_LENGTH, and the sha256 and
// size of what it reads.
const stdinScript = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\n" +
	"echo \"stdin=$(readlink /proc/self/fd/0)\"\necho \"length=${CONTENT_LENGTH-unset}\"\n" +
	"echo \"read=$(sha256sum | cut -d' ' -f1)\"\n"

// spoolDir gives a test server its own --spool-dir.
func spoolDir(dir string) func(*testConfig) {
	return func(c *testConfig) { c.settings.SpoolDir = dir }
}

func doRequest(t *testing.T, ts *testServer, req *wire.ClientRequest) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	if _, err := ts.client(t).Do(ctx, req, &out, &errOut); err != nil {
		t.Fatalf("got %v, want a response", err)
	}
	return out.String(), errOut.String()
}

// TestBodyWithoutLengthIsSpooled: a body sent without CONTENT_LENGTH (a
// chunked upload behind nginx) reaches the script whole, from an unlinked
// file, with CONTENT_LENGTH saying its size; nothing is left in the
// spool directory. Before spooling, the script saw no CONTENT_LENGTH.
func TestBodyWithoutLengthIsSpooled(t *testing.T) {
	spool := t.TempDir()
	ts := startTestServer(t, map[string]string{"stdin.cgi": stdinScript}, spoolDir(spool))
	body := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640000 bytes: several chunks
	req := ts.request("stdin.cgi", wire.Pair{Name: "REQUEST_METHOD", Value: "POST"})
	// A plain io.Reader: the client cannot know its length either.
	req.Stdin = struct{ io.Reader }{bytes.NewReader(body)}
	out, _ := doRequest(t, ts, req)
	sum := sha256.Sum256(body)
	for _, want := range []string{
		"length=640000\n",
		fmt.Sprintf("read=%x\n", sum),
		"stdin=" + spool + "/", // the spool file, not a pipe
		"(deleted)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("got %q, want it to contain %q", out, want)
		}
	}
	if ents, err := os.ReadDir(spool); err != nil || len(ents) != 0 {
		t.Errorf("spool directory holds %v (%v), want nothing", ents, err)
	}
}

// TestBodyWithLengthStillStreams: a body with CONTENT_LENGTH goes through
// a pipe as it arrives, never through a file.
func TestBodyWithLengthStillStreams(t *testing.T) {
	ts := startTestServer(t, map[string]string{"stdin.cgi": stdinScript}, spoolDir("/nonexistent"))
	req := ts.request("stdin.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: "5"})
	req.Stdin = strings.NewReader("hello")
	out, _ := doRequest(t, ts, req)
	if !strings.Contains(out, "stdin=pipe:") || !strings.Contains(out, "length=5\n") {
		t.Errorf("got %q, want a pipe and length=5", out)
	}
}

// TestBodylessRequestWithoutLengthMakesNoFile: a GET without
// CONTENT_LENGTH whose empty FCGI_STDIN comes only after the params is
// waited for, and then runs as every bodyless request does: /dev/null as
// stdin and no spool file (the spool directory does not even exist).
func TestBodylessRequestWithoutLengthMakesNoFile(t *testing.T) {
	// Set before the server starts, so its goroutines see it; reset after
	// it has stopped (cleanups run last first).
	waiting := make(chan struct{})
	testHookSpoolWait = func() { close(waiting) }
	t.Cleanup(func() { testHookSpoolWait = nil })
	ts := startTestServer(t, map[string]string{"stdin.cgi": stdinScript}, spoolDir("/nonexistent"))
	c := ts.client(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	req := ts.request("stdin.cgi")
	req.Stdin = pr
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, req, &out, io.Discard)
		done <- err
	}()
	select {
	case <-waiting:
	case <-ctx.Done():
		t.Fatal("the request never waited for its stdin")
	}
	pw.Close() // the empty FCGI_STDIN, late
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "stdin=/dev/null\n") || !strings.Contains(got, "length=unset\n") {
		t.Errorf("got %q, want /dev/null and no CONTENT_LENGTH", got)
	}
}

// TestSpoolBounds: a body without a length is still bounded while it is
// spooled: past --max-body it is 413, a client that stops sending gets
// 504 after --header-timeout; the script never runs and the web server
// (with --stderr fcgi) is told why.
func TestSpoolBounds(t *testing.T) {
	tests := []struct {
		name   string
		body   func(w *io.PipeWriter)
		status string
		why    string
	}{
		{"over --max-body", func(w *io.PipeWriter) { w.Write(make([]byte, 5000)); w.Close() },
			"Status: 413", "request body without CONTENT_LENGTH is over --max-body 1000 bytes"},
		{"stalled", func(w *io.PipeWriter) { w.Write([]byte("a little")) },
			"Status: 504", "request body stalled: no data for --header-timeout (after 8 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spool := t.TempDir()
			ts := startTestServer(t, map[string]string{"ran.cgi": "#!/bin/sh\ntouch ran\nprintf 'Content-Type: text/plain\\n\\n'\n"},
				spoolDir(spool), func(c *testConfig) {
					c.settings.MaxBody = 1000
					c.settings.HeaderTimeout = 200 * time.Millisecond
					c.settings.StderrToFCGI = true
				})
			pr, pw := io.Pipe()
			defer pw.Close()
			// The writer's owner: it returns once the client has taken
			// the bytes, or the pipe is closed when the test ends.
			written := make(chan struct{})
			go func() {
				defer close(written)
				tt.body(pw)
			}()
			req := ts.request("ran.cgi")
			req.Stdin = pr
			out, errOut := doRequest(t, ts, req)
			pw.CloseWithError(io.ErrClosedPipe)
			<-written
			if !strings.Contains(out, tt.status) {
				t.Errorf("got %q, want %s", out, tt.status)
			}
			if !strings.Contains(errOut, tt.why) {
				t.Errorf("got stderr %q, want it to say %q", errOut, tt.why)
			}
			if _, err := os.Stat(filepath.Join(ts.dir, "ran")); err == nil {
				t.Errorf("the script ran, want it never started")
			}
			if ents, _ := os.ReadDir(spool); len(ents) != 0 {
				t.Errorf("spool directory holds %v, want nothing", ents)
			}
		})
	}
}

// TestSpoolEndsWithTheClient: a client that goes away while its body is
// spooled ends the spooling at once; no script runs.
func TestSpoolEndsWithTheClient(t *testing.T) {
	ts := startTestServer(t, map[string]string{"ran.cgi": "#!/bin/sh\ntouch ran\n"})
	c := ts.client(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	req := ts.request("ran.cgi")
	req.Stdin = pr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, req, io.Discard, io.Discard)
		done <- err
	}()
	if _, err := pw.Write([]byte("some of the body")); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	testutil.WaitFor(t, "the spooling to end", func() bool {
		return strings.Contains(ts.logs.String(), "request ended while its body was spooled")
	})
	if _, err := os.Stat(filepath.Join(ts.dir, "ran")); err == nil {
		t.Errorf("the script ran, want it never started")
	}
}

// TestNamedSpoolFileIsUnlinked: where O_TMPFILE is missing, the spool
// file still has no name by the time it is used.
func TestNamedSpoolFileIsUnlinked(t *testing.T) {
	dir := t.TempDir()
	f, err := namedSpoolFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("body"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("directory holds %v, want nothing", ents)
	}
}
