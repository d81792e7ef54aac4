package main

// Script commands for the balancer and upgrade suites
// (testscripts/balancer_*.txtar, testscripts/upgrade_*.txtar): a bounded
// load of GET requests that counts every failure while instances are
// killed, restarted, drained and upgraded behind a real web server.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

func init() {
	extraCmds["load"] = cmdLoad
	extraCmds["childpids"] = cmdChildPids
	extraCmds["stopatend"] = cmdStopAtEnd
}

const (
	// loadMax ends a load that nobody stops: a script that failed half-way
	// must not leave clients running for the rest of the suite.
	loadMax = 60 * time.Second
	// loadRequestTimeout fails a request that hangs: a balancer that
	// waits on a full or dead instance instead of routing around it.
	loadRequestTimeout = 10 * time.Second
	// loadFailuresKept is how many failures a summary spells out.
	loadFailuresKept = 10
)

// loadRun is one named load: CLIENTS goroutines, each sending one GET at a
// time over a fresh connection (so every request also tests that the web
// server accepts), at most one per interval.
type loadRun struct {
	cancel context.CancelFunc
	// clients waits for the client goroutines; stop waits on it.
	clients sync.WaitGroup
	ok      atomic.Int64

	mu       sync.Mutex
	failed   int
	failures []string       // the first loadFailuresKept, spelled out
	bodies   map[string]int // successes by the first line of the body
	slowest  time.Duration
}

// loads holds each script's running loads by name.
var loads = struct {
	sync.Mutex
	m map[*testscript.TestScript]map[string]*loadRun
}{m: map[*testscript.TestScript]map[string]*loadRun{}}

// load start [-every D] NAME CLIENTS URL [BODY_REGEXP]: start CLIENTS
// clients sending GET URL in a loop until "load stop NAME" (or loadMax).
// A request succeeds with status 200 and, if given, a body that matches
// BODY_REGEXP; anything else, including a refused connection or a
// request that takes loadRequestTimeout, is a failure.
// load wait NAME N: wait until N more requests have succeeded.
// load stop NAME: stop the clients, print the summary ("NAME: N ok, F
// failed", the successes by body, the slowest request, the failures), and
// fail unless every request succeeded and at least one did.
func cmdLoad(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: load start [-every D] NAME CLIENTS URL [BODY_REGEXP] | load wait NAME N | load stop NAME")
	}
	switch args[0] {
	case "start":
		loadStart(ts, args[1:])
	case "wait":
		if len(args) != 3 {
			ts.Fatalf("usage: load wait NAME N")
		}
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		l := loadNamed(ts, args[1])
		target := l.ok.Load() + int64(n)
		waitFor(ts, fmt.Sprintf("%d more successful requests of load %s", n, args[1]), func() bool { return l.ok.Load() >= target })
	case "stop":
		if len(args) != 2 {
			ts.Fatalf("usage: load stop NAME")
		}
		l := loadNamed(ts, args[1])
		l.stop()
		loads.Lock()
		delete(loads.m[ts], args[1])
		loads.Unlock()
		l.report(ts, args[1])
	default:
		ts.Fatalf("load: unknown subcommand %q", args[0])
	}
}

func loadStart(ts *testscript.TestScript, args []string) {
	fs := flag.NewFlagSet("load start", flag.ContinueOnError)
	fs.SetOutput(ts.Stderr())
	every := fs.Duration("every", 20*time.Millisecond, "at most one request per client this often")
	if fs.Parse(args) != nil || fs.NArg() < 3 || fs.NArg() > 4 {
		ts.Fatalf("usage: load start [-every D] NAME CLIENTS URL [BODY_REGEXP]")
	}
	name, url := fs.Arg(0), fs.Arg(2)
	clients, err := strconv.Atoi(fs.Arg(1))
	if err != nil || clients < 1 || clients > 16 {
		ts.Fatalf("load start: CLIENTS %q: want 1 to 16", fs.Arg(1))
	}
	var want *regexp.Regexp
	if fs.NArg() == 4 {
		want, err = regexp.Compile(fs.Arg(3))
		ts.Check(err)
	}
	loads.Lock()
	defer loads.Unlock()
	if loads.m[ts] == nil {
		loads.m[ts] = map[string]*loadRun{}
		// Whatever the script did, no client outlives it.
		ts.Defer(func() {
			loads.Lock()
			left := loads.m[ts]
			delete(loads.m, ts)
			loads.Unlock()
			for _, l := range left {
				l.stop()
			}
		})
	}
	if loads.m[ts][name] != nil {
		ts.Fatalf("load %s is already running", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadMax)
	l := &loadRun{cancel: cancel, bodies: map[string]int{}}
	client := &http.Client{
		Timeout:   loadRequestTimeout,
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true},
	}
	for range clients {
		l.clients.Add(1)
		go func() {
			defer l.clients.Done()
			l.client(ctx, client, url, want, *every)
		}()
	}
	loads.m[ts][name] = l
}

func loadNamed(ts *testscript.TestScript, name string) *loadRun {
	loads.Lock()
	defer loads.Unlock()
	l := loads.m[ts][name]
	if l == nil {
		ts.Fatalf("no load named %s is running", name)
	}
	return l
}

func (l *loadRun) stop() {
	l.cancel()
	l.clients.Wait()
}

// client sends requests one after the other until ctx ends.
func (l *loadRun) client(ctx context.Context, client *http.Client, url string, want *regexp.Regexp, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		start := time.Now()
		body, err := get(ctx, client, url, want)
		took := time.Since(start)
		if ctx.Err() != nil {
			// Stopped: a request cut short by the stop is no failure.
			return
		}
		l.record(body, took, err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// get sends one GET and returns the first line of the body.
func get(ctx context.Context, client *http.Client, url string, want *regexp.Regexp) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	first, _, _ := strings.Cut(string(b), "\n")
	switch {
	case err != nil:
		return first, fmt.Errorf("status %d, body cut short: %w", resp.StatusCode, err)
	case resp.StatusCode != http.StatusOK:
		return first, fmt.Errorf("status %d: %q", resp.StatusCode, first)
	case want != nil && !want.Match(b):
		return first, fmt.Errorf("body %q does not match %q", first, want)
	}
	return first, nil
}

func (l *loadRun) record(body string, took time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, took)
	if err != nil {
		l.failed++
		if len(l.failures) < loadFailuresKept {
			l.failures = append(l.failures, fmt.Sprintf("%s after %s: %v", time.Now().Format("15:04:05.000"), took.Round(time.Millisecond), err))
		}
		return
	}
	l.bodies[body]++
	l.ok.Add(1)
}

func (l *loadRun) report(ts *testscript.TestScript, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := ts.Stdout()
	fmt.Fprintf(out, "%s: %d ok, %d failed\n", name, l.ok.Load(), l.failed)
	bodies := make([]string, 0, len(l.bodies))
	for b := range l.bodies {
		bodies = append(bodies, b)
	}
	slices.Sort(bodies)
	for _, b := range bodies {
		fmt.Fprintf(out, "body %q: %d\n", b, l.bodies[b])
	}
	fmt.Fprintf(out, "slowest: %s\n", l.slowest.Round(time.Millisecond))
	for _, f := range l.failures {
		fmt.Fprintf(out, "failed: %s\n", f)
	}
	switch {
	case l.failed > 0:
		ts.Fatalf("load %s: %d of %d requests failed", name, l.failed, l.failed+int(l.ok.Load()))
	case l.ok.Load() == 0:
		ts.Fatalf("load %s: no request succeeded", name)
	}
}

// childpids PIDFILE OUTFILE: write the pids of the running children of
// the process in PIDFILE to OUTFILE, for pidgone once it has exited: its
// helpers and scripts must end with it.
func cmdChildPids(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: childpids PIDFILE OUTFILE")
	}
	parent := readPids(ts, args[0])[0]
	var kids []string
	ents, err := os.ReadDir("/proc")
	ts.Check(err)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parentOf(pid); err == nil && ppid == parent && alive(pid) {
			kids = append(kids, strconv.Itoa(pid))
		}
	}
	if len(kids) == 0 {
		ts.Fatalf("pid %d has no running child", parent)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(kids, "\n")+"\n"), 0o644))
}

// stopatend PIDFILE: when the script ends, pass or fail, stop the
// fcgi-wrap whose pid PIDFILE holds by then: SIGTERM, and SIGKILL if it is
// still there after testutil.Deadline. After an upgrade that is a process
// no exec started, which would otherwise outlive a failed script and hold
// the output pipes of the process it replaced open.
func cmdStopAtEnd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stopatend PIDFILE")
	}
	path := ts.MkAbs(args[0])
	ts.Defer(func() {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		// The name guards against a pid reused since.
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "fcgi-wrap" {
			return
		}
		syscall.Kill(pid, syscall.SIGTERM)
		if !testutil.Poll(testutil.Deadline, func() bool { return !alive(pid) }) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// parentOf reads a process's parent pid from /proc/PID/stat.
func parentOf(pid int) (int, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// After the parenthesised name: state, ppid.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.Atoi(f[1])
}
