package gateway

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
