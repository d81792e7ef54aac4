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
	"syscall"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// escapee is a script whose background child leaves the process group
// (setsid) and keeps the script's stderr, so no group kill reaches it and
// its stderr pipe never ends by itself. Its pid is written to a file named
// after the request.
const escapee = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n" +
	"setsid sleep 600 >/dev/null &\necho $! > \"$QUERY_STRING.pid\"\nsleep 0.2\n"

// TestEscapedGrandchildDoesNotHoldTheRequest: a grandchild that called
// setsid and kept stderr held the response, the worker and a queued
// request until it exited (20 s in the report), because the stderr reader
// had no deadline. Now every pipe is drained for at most --exit-drain once
// the script has exited: both requests end while the escapee still runs.
func TestEscapedGrandchildDoesNotHoldTheRequest(t *testing.T) {
	ts := startTestServer(t, map[string]string{"escape.cgi": escapee}, func(c *testConfig) {
		c.pool.Workers = 1
		c.settings.Timeout = 5 * time.Second
		c.settings.ExitDrain = 200 * time.Millisecond
	})
	killEscapees(t, ts.dir)
	done := make(chan error, 2)
	outs := [2]bytes.Buffer{}
	for i := range 2 {
		go func() {
			req := ts.request("escape.cgi", wire.Pair{Name: "QUERY_STRING", Value: fmt.Sprint(i)})
			_, err := ts.client(t).Do(context.Background(), req, &outs[i], io.Discard)
			done <- err
		}()
	}
	deadline := time.After(testutil.Deadline)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("requests still open after %s: an escaped grandchild holds them", testutil.Deadline)
		}
	}
	for i := range 2 {
		if !strings.HasSuffix(outs[i].String(), "\r\n\r\nok\n") {
			t.Errorf("request %d: got %q, want the script's answer", i, outs[i].String())
		}
		pid := readPid(t, filepath.Join(ts.dir, fmt.Sprint(i)+".pid"))
		if syscall.Kill(pid, 0) != nil {
			t.Errorf("escapee %d is gone: the test proves nothing", pid)
		}
	}
}

// TestTimeoutEndsResponseWhateverHoldsThePipes: a script that hangs with
// an escaped grandchild holding its stdout and stderr is cut at --timeout;
// the response then ends within --kill-grace and a margin, not when the
// escapee lets go of the pipes.
func TestTimeoutEndsResponseWhateverHoldsThePipes(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"hang.cgi": "#!/bin/sh\nsetsid sleep 600 &\necho $! > hang.pid\nexec sleep 600\n",
	}, func(c *testConfig) {
		c.settings.Timeout = 300 * time.Millisecond
		c.settings.KillGrace = 100 * time.Millisecond
	})
	killEscapees(t, ts.dir)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
	defer cancel()
	if _, err := ts.client(t).Do(ctx, ts.request("hang.cgi"), &out, io.Discard); err != nil {
		t.Fatalf("got %v, want a 504 although an escapee holds the pipes", err)
	}
	if !strings.HasPrefix(out.String(), "Status: 504") {
		t.Fatalf("got %q, want a 504", out.String())
	}
	if pid := readPid(t, filepath.Join(ts.dir, "hang.pid")); syscall.Kill(pid, 0) != nil {
		t.Errorf("escapee %d is gone: the test proves nothing", pid)
	}
}

// readPid reads a pid a script wrote.
func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testutil.WaitFor(t, path, func() bool {
		b, err := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// killEscapees kills, when the test ends, every process whose pid a script
// wrote to a *.pid file in dir: an escapee is out of everyone else's reach.
func killEscapees(t *testing.T, dir string) {
	t.Cleanup(func() {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}
