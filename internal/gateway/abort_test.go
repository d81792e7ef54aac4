package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// TestAbortedRequestsLeaveNothingBehind: after many aborted requests the
// process has no children and no more open files than before.
func TestAbortedRequestsLeaveNothingBehind(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	ts := startTestServer(t, map[string]string{
		"hang.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nexec sleep 600\n",
		"ok.cgi":   "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n",
	}, func(c *testConfig) { c.settings.KillGrace = 2 * time.Second; c.pool.Workers = 16 })
	c := ts.client(t)
	// One request first, so the server has accepted the connection and
	// made whatever it keeps for good before the baseline is taken.
	warm := ts.request("ok.cgi")
	if _, err := c.Do(context.Background(), warm, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	fdsBefore := countFDs(t)

	// aborting waits for the request goroutines.
	var aborting sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		aborting.Add(1)
		sem <- struct{}{}
		go func() {
			defer aborting.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := c.Do(ctx, ts.request("hang.cgi"), cancelOnWrite{cancel}, io.Discard)
			if err == nil {
				errs <- fmt.Errorf("request completed, want it aborted")
			}
		}()
	}
	aborting.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "every script to be reaped", func() bool { return len(childrenOf(os.Getpid())) == 0 })
	testutil.WaitFor(t, "the pool to be idle", func() bool { return ts.pool.Snapshot().Active == 0 })
	testutil.WaitFor(t, "the fd count to come back", func() bool { return countFDs(t) <= fdsBefore })
	if got := ts.pool.Snapshot().Aborted; got != uint64(n) {
		t.Errorf("got %d aborted in the pool counters, want %d", got, n)
	}
}

// cancelOnWrite aborts the request as soon as its first output arrives,
// which proves the script was running.
type cancelOnWrite struct{ cancel context.CancelFunc }

func (c cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return len(p), nil
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// childrenOf lists the pids whose parent is pid, zombies included: an
// unreaped child counts.
func childrenOf(pid int) []int {
	var kids []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		var child int
		if _, err := fmt.Sscan(p.Name(), &child); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		var state string
		var ppid int
		if _, err := fmt.Sscan(string(stat[i+1:]), &state, &ppid); err == nil && ppid == pid {
			kids = append(kids, child)
		}
	}
	return kids
}

// TestScriptExitsWithoutReadingBodyThatNeverEnds: the script answers and
// exits without reading its body, and the client never finishes sending
// it (no empty FCGI_STDIN). The response must still end.
func TestScriptExitsWithoutReadingBodyThatNeverEnds(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"early.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nanswered early\\n'\n",
	})
	c := ts.client(t)
	// A body that never comes: the script's stdin feeder waits on it.
	body, bodyWriter := io.Pipe()
	defer bodyWriter.Close()
	req := ts.request("early.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: "10000000"})
	req.Stdin = body
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	end, err := c.Do(ctx, req, &out, io.Discard)
	if err != nil {
		t.Fatalf("got %v, want the response to end although the body never did", err)
	}
	if end.AppStatus != 0 || !strings.Contains(out.String(), "answered early") {
		t.Fatalf("got status %d and %q, want 0 and the script's answer", end.AppStatus, out.String())
	}
}

// TestClientThatStopsReadingKillsScript: a web server that reads nothing of
// a big response for --send-timeout is treated as gone, and the script's
// group is killed, not left blocked on a full pipe for ever.
func TestClientThatStopsReadingKillsScript(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"flood.cgi": "#!/bin/sh\necho $$ > pid\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat /dev/zero\n",
	}, func(c *testConfig) {
		c.server.WriteTimeout = 300 * time.Millisecond
		c.settings.KillGrace = 100 * time.Millisecond
	})
	conn, err := net.Dial("unix", ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req []byte
	req = wire.AppendBeginRequest(req, 1, wire.RoleResponder, 0)
	var params []byte
	for _, p := range ts.request("flood.cgi").Params {
		params = wire.AppendPair(params, p.Name, p.Value)
	}
	req = wire.AppendRecord(req, wire.TypeParams, 1, params)
	req = wire.AppendRecord(req, wire.TypeParams, 1, nil)
	req = wire.AppendRecord(req, wire.TypeStdin, 1, nil)
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	// Never read: the socket buffers fill, then writes stall.
	testutil.WaitFor(t, "the script to be killed", func() bool {
		return strings.Contains(ts.logs.String(), "request cancelled; script killed")
	})
	pid, err := os.ReadFile(filepath.Join(ts.dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(string(pid), &n)
	testutil.WaitFor(t, "the script's process to end", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", n))
		return err != nil
	})
	if got := ts.pool.Snapshot().Aborted; got != 1 {
		t.Errorf("got %d aborted, want 1", got)
	}
}
