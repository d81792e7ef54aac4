package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

// TestStderrBeforeStdoutPastAPipe: a script that writes more to stderr
// than a pipe holds before it writes any stdout is not stuck: its stderr
// is read once it outlives the fast path, and all of it reaches the web
// server. A quick script's stderr, read by the request's own goroutine
// after the script exits, arrives whole too.
func TestStderrBeforeStdoutPastAPipe(t *testing.T) {
	const big = 256 << 10
	ts := startTestServer(t, map[string]string{
		"loud.cgi":  "#!/bin/sh\nhead -c 262144 /dev/zero | tr '\\0' x >&2\nprintf 'Content-Type: text/plain\\n\\nloud done\\n'\n",
		"quick.cgi": "#!/bin/sh\necho quick complaint >&2\nprintf 'Content-Type: text/plain\\n\\nquick done\\n'\n",
	}, func(c *testConfig) { c.settings.StderrToFCGI, c.settings.StderrToLog = true, false })
	c := ts.client(t)
	for _, tc := range []struct{ script, out, stderr string }{
		{"loud.cgi", "loud done", strings.Repeat("x", big)},
		{"quick.cgi", "quick done", "quick complaint\n"},
	} {
		var out, errOut bytes.Buffer
		if _, err := c.Do(context.Background(), ts.request(tc.script), &out, &errOut); err != nil {
			t.Fatalf("%s: %v", tc.script, err)
		}
		if !strings.Contains(out.String(), tc.out) {
			t.Errorf("%s: got stdout %q, want it to contain %q", tc.script, out.String(), tc.out)
		}
		if errOut.String() != tc.stderr {
			t.Errorf("%s: got %d bytes of stderr, want %d", tc.script, errOut.Len(), len(tc.stderr))
		}
	}
}

// TestStreamedResponseSplicedWhole: a script that streams more than its
// pipe holds has its output spliced to the client (the socket is a unix
// socket), and every byte arrives in order and is counted for the log.
func TestStreamedResponseSplicedWhole(t *testing.T) {
	body := make([]byte, 3<<20+5)
	for i := range body {
		body[i] = byte(i * 7 / 3)
	}
	recs := &records{}
	ts := startTestServer(t, map[string]string{
		"stream.cgi": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat big.bin\n",
	}, func(c *testConfig) { c.observer = recs })
	if err := os.WriteFile(filepath.Join(ts.dir, "big.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := ts.client(t).Do(context.Background(), ts.request("stream.cgi"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, got, _ := bytes.Cut(out.Bytes(), []byte("\r\n\r\n"))
	if !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes of body, want the %d of big.bin in order", len(got), len(body))
	}
	all := recs.all()
	if len(all) != 1 || all[0].BytesOut != int64(out.Len()) {
		t.Errorf("logged bytes out: got %+v, want one record of %d", all, out.Len())
	}
}

// TestLeftoverHoldingStderrDoesNotHoldTheRequest: a quick script that
// leaves a child holding its stderr (not its stdout) open ends its request
// within --exit-drain of its exit, on the fast path as on the slow one,
// and the child is killed with its group.
func TestLeftoverHoldingStderrDoesNotHoldTheRequest(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"leave.cgi": "#!/bin/sh\nsleep 600 >/dev/null &\nprintf 'Content-Type: text/plain\\n\\n%s\\n' $!\n",
	}, func(c *testConfig) { c.settings.ExitDrain = 200 * time.Millisecond })
	c := ts.client(t)
	for i := range 3 {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
		_, err := c.Do(ctx, ts.request("leave.cgi"), &out, io.Discard)
		cancel()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, body, _ := bytes.Cut(out.Bytes(), []byte("\r\n\r\n"))
		pid, err := strconv.Atoi(strings.TrimSpace(string(body)))
		if err != nil {
			t.Fatalf("request %d: got body %q, want the child's pid", i, body)
		}
		testutil.WaitFor(t, fmt.Sprintf("the leftover %d of request %d to die", pid, i), func() bool { return !processAlive(pid) })
	}
}
