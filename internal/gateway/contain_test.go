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
	"syscall"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// testTree builds a cgroup tree for one test under a fresh directory of
// our own cgroup, and takes both down when the test ends; it skips where
// this machine has no writable cgroup2.
func testTree(t *testing.T) *cgroup.Tree {
	t.Helper()
	own, err := cgroup.OwnDir()
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and a cgroup2 mount:", err)
	}
	base := filepath.Join(own, fmt.Sprintf("gateway-test.%d.%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")))
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Skip("cgroup2 not writable:", err)
	}
	tree, why, err := cgroup.Setup(cgroup.Options{Mode: base})
	if err != nil || tree == nil {
		os.Remove(base)
		t.Skipf("no cgroup tree here: %s %v", why, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
		defer cancel()
		if err := tree.Close(ctx); err != nil {
			t.Errorf("closing the tree: %v", err)
		}
		if err := os.Remove(base); err != nil {
			t.Errorf("removing %s: %v", base, err)
		}
	})
	return tree
}

// withCgroups gives each request a cgroup of tree, as the daemon does.
func withCgroups(tree *cgroup.Tree) func(*testConfig) {
	return func(c *testConfig) {
		c.contain.NewCgroup = func() (RequestCgroup, error) {
			r, err := tree.New()
			if err != nil {
				return nil, err
			}
			return r, nil
		}
	}
}

// escaping leaves a process in a session of its own, its pid in
// QUERY_STRING.pid, and then does what its name says: flood writes output
// forever, exit ends at once.
const escaping = "#!/bin/sh\nsetsid sh -c 'echo $$ > \"$0.pid\"; exec sleep 600' \"$QUERY_STRING\" </dev/null >/dev/null 2>&1 &\n" +
	"while [ ! -s \"$QUERY_STRING.pid\" ]; do sleep 0.01; done\nprintf 'Content-Type: application/octet-stream\\n\\n'\n"

// TestSendTimeoutKillsEscapees: a web server that stops reading gets the
// request cancelled after --send-timeout; with a cgroup, what the script
// left in a session of its own dies too, and the request's cgroup is
// removed. Without a cgroup (the contrast) it survives.
func TestSendTimeoutKillsEscapees(t *testing.T) {
	for _, withCgroup := range []bool{true, false} {
		t.Run(fmt.Sprintf("cgroup=%v", withCgroup), func(t *testing.T) {
			options := []func(*testConfig){func(c *testConfig) {
				c.server.WriteTimeout = 300 * time.Millisecond
				c.settings.KillGrace = 100 * time.Millisecond
			}}
			var tree *cgroup.Tree
			if withCgroup {
				tree = testTree(t)
				options = append(options, withCgroups(tree))
			} else if os.Geteuid() != 0 {
				t.Skip("the contrast runs where the cgroup case does")
			}
			ts := startTestServer(t, map[string]string{"flood.cgi": escaping + "exec cat /dev/zero\n"}, options...)
			killEscapees(t, ts.dir)
			conn, err := net.Dial("unix", ts.socket)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			sendNoRead(t, conn, ts.request("flood.cgi", wire.Pair{Name: "QUERY_STRING", Value: "flood"}))
			escapee := readPid(t, filepath.Join(ts.dir, "flood.pid"))
			testutil.WaitFor(t, "the send timeout to end the request", func() bool {
				return strings.Contains(ts.logs.String(), "request cancelled; script killed")
			})
			if !withCgroup {
				if syscall.Kill(escapee, 0) != nil {
					t.Errorf("escapee %d died without a cgroup: the contrast proves nothing", escapee)
				}
				return
			}
			testutil.WaitFor(t, "the escapee to die", func() bool { return !processAlive(escapee) })
			testutil.WaitFor(t, "the request cgroup to go", func() bool { return cgroupsUnder(t, tree.Scripts()) == 0 })
		})
	}
}

// sendNoRead sends a whole request and never reads the answer.
func sendNoRead(t *testing.T, conn net.Conn, r *wire.ClientRequest) {
	t.Helper()
	req := wire.AppendBeginRequest(nil, 1, wire.RoleResponder, 0)
	var params []byte
	for _, p := range r.Params {
		params = wire.AppendPair(params, p.Name, p.Value)
	}
	req = wire.AppendRecord(req, wire.TypeParams, 1, params)
	req = wire.AppendRecord(req, wire.TypeParams, 1, nil)
	req = wire.AppendRecord(req, wire.TypeStdin, 1, nil)
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
}

// TestCgroupPerRequestLeavesNothing: many requests whose scripts leave a
// setsid'd process each end with those processes dead and no request
// cgroup left but the one kept for reuse; each request's CPU and uid
// reach the access record.
func TestCgroupPerRequestLeavesNothing(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	tree := testTree(t)
	recs := &records{}
	ts := startTestServer(t, map[string]string{"exit.cgi": escaping + "echo ok\n"}, withCgroups(tree), func(c *testConfig) {
		c.observer = recs
	})
	killEscapees(t, ts.dir)
	c := ts.client(t)
	for i := range n {
		var out bytes.Buffer
		req := ts.request("exit.cgi", wire.Pair{Name: "QUERY_STRING", Value: fmt.Sprint(i)})
		if _, err := c.Do(context.Background(), req, &out, io.Discard); err != nil || !strings.HasSuffix(out.String(), "ok\n") {
			t.Fatalf("request %d: got %q, %v", i, out.String(), err)
		}
	}
	for i := range n {
		pid := readPid(t, filepath.Join(ts.dir, fmt.Sprint(i)+".pid"))
		testutil.WaitFor(t, fmt.Sprintf("escapee %d of request %d to die", pid, i), func() bool { return !processAlive(pid) })
	}
	// One request ran at a time: its cgroup, emptied, is kept for reuse.
	if left := cgroupsUnder(t, tree.Scripts()); left > 1 {
		t.Errorf("request cgroups left: got %d, want at most 1", left)
	}
	for i, rec := range recs.all() {
		if rec.PID.Load() == 0 || rec.UID != os.Geteuid() || rec.CPU <= 0 {
			t.Fatalf("record %d: pid %d, uid %d, cpu %v; want a pid, our uid and some CPU", i, rec.PID.Load(), rec.UID, rec.CPU)
		}
	}
}

// TestOOMKillIsLogged: a script the OOM killer ended (memory.events says
// so) is logged as having reached memory.max, and answered 502 when it
// wrote no head. The kill itself needs the memory controller (see
// contain_limits.txtar); here the cgroup reports it.
func TestOOMKillIsLogged(t *testing.T) {
	tree := testTree(t)
	ts := startTestServer(t, map[string]string{"killed.cgi": "#!/bin/sh\nkill -KILL $$\n"}, func(c *testConfig) {
		c.contain.NewCgroup = func() (RequestCgroup, error) {
			r, err := tree.New()
			if err != nil {
				return nil, err
			}
			return oomCgroup{r}, nil
		}
	})
	var out bytes.Buffer
	if _, err := ts.client(t).Do(context.Background(), ts.request("killed.cgi"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "Status: 502") {
		t.Errorf("got %q, want a 502", out.String())
	}
	if !strings.Contains(ts.logs.String(), "script killed by the OOM killer: memory.max reached") {
		t.Errorf("log lacks the OOM line:\n%s", ts.logs.String())
	}
}

// oomCgroup is a real request cgroup whose memory.events reports one OOM
// kill.
type oomCgroup struct{ *cgroup.Request }

func (c oomCgroup) Usage() cgroup.Usage {
	u := c.Request.Usage()
	u.OOMKills = 1
	return u
}

// TestCPUWithoutCgroups: without a cgroup the CPU a script used comes
// from its rusage.
func TestCPUWithoutCgroups(t *testing.T) {
	recs := &records{}
	ts := startTestServer(t, map[string]string{
		"spin.cgi": "#!/bin/sh\ni=0; while [ $i -lt 100000 ]; do i=$((i+1)); done\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n",
	}, func(c *testConfig) { c.observer = recs })
	if _, err := ts.client(t).Do(context.Background(), ts.request("spin.cgi"), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the request's record", func() bool { return len(recs.all()) == 1 })
	if rec := recs.all()[0]; rec.CPU < 10*time.Millisecond || rec.MemPeak != 0 {
		t.Errorf("got cpu %v and mem_peak %d; want the loop's CPU and no peak", rec.CPU, rec.MemPeak)
	}
}

// records keeps every finished request's record.
type records struct {
	mu   sync.Mutex
	recs []*observe.Record
}

func (r *records) Observe(rec *observe.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}

func (r *records) all() []*observe.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*observe.Record(nil), r.recs...)
}

func cgroupsUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// processAlive reports whether pid runs (a zombie has ended).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
