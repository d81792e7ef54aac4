package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// testServer runs the real gateway behind a wire.Server on a unix socket
// in this process, for the tests that need many requests or exact timing
// of what arrives when.
type testServer struct {
	dir    string
	socket string
	pool   *pool.Pool
	server *wire.Server
	logs   *testutil.SyncBuffer
}

// testConfig is what a test may change from fcgi-wrap's defaults.
type testConfig struct {
	settings Settings
	pool     pool.Config
	server   *wire.Server // its limits; Handler and Logger are set by startTestServer
	contain  Contain      // cgroups and identity (contain_test.go)
	observer observe.Observer
}

// startTestServer serves the scripts written to a fresh directory, with
// fcgi-wrap's default settings changed by each option in turn.
func startTestServer(t *testing.T, scripts map[string]string, options ...func(*testConfig)) *testServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &testConfig{
		settings: Settings{
			Resolve:       cgienv.ResolveOptions{StrictPerms: true},
			StderrToLog:   true,
			HeaderTimeout: time.Minute,
			KillGrace:     5 * time.Second,
			ExitDrain:     2 * time.Second,
		},
		pool: pool.Config{Workers: 4 * runtime.NumCPU(), Queue: 1024, QueueTimeout: 30 * time.Second},
		server: &wire.Server{
			MaxConns: 1024, MaxReqs: 1024, MaxParamsBytes: 1 << 20, MaxParamCount: 4096,
			WriteTimeout: time.Minute, ParamsTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute,
		},
	}
	for _, option := range options {
		option(cfg)
	}
	logs := &testutil.SyncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	p := pool.New(cfg.pool)
	g := New(&cfg.settings, p, log.Named("request"))
	srv := cfg.server
	srv.Handler, srv.Logger = g, log.Named("wire")
	g.ServerStats = srv.Stats
	g.Contain, g.Observer = cfg.contain, cfg.observer
	socket := filepath.Join(dir, "fw.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// serving waits for the accept loop.
	var serving sync.WaitGroup
	serving.Add(1)
	go func() {
		defer serving.Done()
		srv.Serve(ctx, l)
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		serving.Wait()
		l.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{dir: dir, socket: socket, pool: p, server: srv, logs: logs}
}

func (ts *testServer) client(t *testing.T) *wire.Client {
	t.Helper()
	c, err := wire.Dial(context.Background(), "unix", ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (ts *testServer) request(script string, extra ...wire.Pair) *wire.ClientRequest {
	params := []wire.Pair{
		{Name: "REQUEST_METHOD", Value: "GET"},
		{Name: "SCRIPT_NAME", Value: "/" + script},
		{Name: "REQUEST_URI", Value: "/" + script},
		{Name: "SCRIPT_FILENAME", Value: filepath.Join(ts.dir, script)},
	}
	return &wire.ClientRequest{KeepConn: true, Params: append(params, extra...)}
}

// TestMultiplexedSlowRequestDoesNotStall: on one connection, a request
// whose script waits never delays another one that can finish.
func TestMultiplexedSlowRequestDoesNotStall(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"slow.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nwhile [ ! -e release ]; do sleep 0.02; done\necho slow done\n",
		"fast.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfast done\\n'\n",
	})
	c := ts.client(t)
	var slowOut bytes.Buffer
	slowErr := make(chan error, 1)
	go func() {
		_, err := c.Do(context.Background(), ts.request("slow.cgi"), &slowOut, io.Discard)
		slowErr <- err
	}()
	testutil.WaitFor(t, "the slow script to run", func() bool { return ts.pool.Snapshot().Active == 1 })

	for i := 0; i < 3; i++ {
		var out bytes.Buffer
		if _, err := c.Do(context.Background(), ts.request("fast.cgi"), &out, io.Discard); err != nil {
			t.Fatalf("fast request %d: %v", i, err)
		}
		if !strings.Contains(out.String(), "fast done") {
			t.Fatalf("fast request %d: got %q, want it to contain %q", i, out.String(), "fast done")
		}
	}
	select {
	case err := <-slowErr:
		t.Fatalf("slow request ended before it was released: %v", err)
	default:
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-slowErr; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(slowOut.String(), "slow done") {
		t.Fatalf("slow request: got %q, want it to contain %q", slowOut.String(), "slow done")
	}
}

// TestOutputStreamsWhileScriptRuns: the first line reaches the client
// while the script is still waiting to write the second.
func TestOutputStreamsWhileScriptRuns(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"progress.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nstep 1\\n'\nwhile [ ! -e next ]; do sleep 0.02; done\necho step 2\n",
	})
	c := ts.client(t)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(context.Background(), ts.request("progress.cgi"), pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	got := readUntil(t, pr, "step 1\n")
	if strings.Contains(got, "step 2") {
		t.Fatalf("got %q before the script was told to go on", got)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "next"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	readUntil(t, pr, "step 2\n")
	io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// readUntil reads r until what has been read ends with suffix.
func readUntil(t *testing.T, r io.Reader, suffix string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(got, []byte(suffix)) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read %q, then %v; want it to end with %q", got, err, suffix)
		}
	}
	return string(got)
}

// TestEchoLargeBodyFullDuplex: a script that writes as it reads (cat)
// gets a body far larger than every pipe and buffer on the way, and the
// bytes come back intact. fcgiwrap hangs on this from about 1 MB.
func TestEchoLargeBodyFullDuplex(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 16 << 20
	}
	ts := startTestServer(t, map[string]string{
		"echo.cgi": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n",
	})
	c := ts.client(t)
	body := io.LimitReader(&patternReader{}, size)
	sent := sha256.New()
	req := ts.request("echo.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: fmt.Sprint(size)})
	req.Stdin = io.TeeReader(body, sent)
	received := sha256.New()
	got := &headSkipper{hash: received}
	peak := watchHeap(t)
	end, err := c.Do(context.Background(), req, got, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing on the way holds the body: the heap stays far below its size.
	if p := peak(); p > 64<<20 {
		t.Errorf("heap peaked at %d MiB while echoing %d MiB, want under 64 MiB", p>>20, size>>20)
	}
	if end.AppStatus != 0 {
		t.Errorf("got appStatus %d, want 0", end.AppStatus)
	}
	if got.bodyBytes != size {
		t.Fatalf("got %d body bytes back, want %d", got.bodyBytes, size)
	}
	if !bytes.Equal(received.Sum(nil), sent.Sum(nil)) {
		t.Fatal("echoed body differs from the body sent")
	}
}

// patternReader produces an endless byte stream that does not repeat
// with any short period, cheaply: a fixed random block read at offsets
// that drift by a prime, so a lost or duplicated chunk changes the hash.
type patternReader struct{ off int }

var patternBlock = func() []byte {
	b := make([]byte, 2<<20)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

func (p *patternReader) Read(b []byte) (int, error) {
	n := copy(b, patternBlock[p.off:p.off+min(len(b), 1<<20)])
	p.off = (p.off + n + 4093) % (1 << 20)
	return n, nil
}

// watchHeap samples the Go heap in use until the test ends; the returned
// func reports the peak seen so far.
func watchHeap(t *testing.T) (peak func() uint64) {
	var mu sync.Mutex
	var max uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			mu.Lock()
			max = maxOf(max, ms.HeapInuse)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return max
	}
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// headSkipper hashes what follows the CGI head.
type headSkipper struct {
	head      []byte
	inBody    bool
	hash      io.Writer
	bodyBytes int64
}

func (h *headSkipper) Write(p []byte) (int, error) {
	n := len(p)
	if !h.inBody {
		h.head = append(h.head, p...)
		i := bytes.Index(h.head, []byte("\r\n\r\n"))
		if i < 0 {
			return n, nil
		}
		h.inBody = true
		p = h.head[i+4:]
	}
	h.hash.Write(p)
	h.bodyBytes += int64(len(p))
	return n, nil
}

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

// pacedReader yields one chunk per tick: an upload slower than a timeout.
// Once done closes (the test is over) it fails instead of waiting, so a
// failed test's client can close.
type pacedReader struct {
	chunks int
	size   int
	tick   *time.Ticker
	done   <-chan struct{}
}

var errTestOver = errors.New("the test is over")

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.chunks == 0 {
		return 0, io.EOF
	}
	select {
	case <-p.tick.C:
	case <-p.done:
		return 0, errTestOver
	}
	p.chunks--
	n := min(len(b), p.size)
	for i := range b[:n] {
		b[i] = 'u'
	}
	return n, nil
}

// TestHeaderTimeoutCountsFromBodyProgress: --header-timeout restarts with
// every piece of body the script takes, so a slow upload to a script that
// reads before answering succeeds, while a script that stops reading its
// body is still held to the limit.
func TestHeaderTimeoutCountsFromBodyProgress(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"count.cgi":  "#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\n\\nbytes=%s\\n' $n\n",
		"ignore.cgi": "#!/bin/sh\nexec sleep 600\n",
	}, func(c *testConfig) {
		c.settings.HeaderTimeout = 300 * time.Millisecond
		c.settings.KillGrace = 100 * time.Millisecond
	})
	c := ts.client(t)
	// Cleanups run last first: the reader stops before the client closes.
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	slow := ts.request("count.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: "10000"})
	slow.Stdin = &pacedReader{chunks: 10, size: 1000, tick: tick, done: done}
	var out bytes.Buffer
	if _, err := c.Do(context.Background(), slow, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bytes=10000") {
		t.Fatalf("slow upload: got %q, want the script's answer with bytes=10000", out.String())
	}

	stuck := ts.request("ignore.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: fmt.Sprint(4 << 20)})
	stuck.Stdin = io.LimitReader(&patternReader{}, 4<<20)
	out.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Do(ctx, stuck, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "Status: 504") {
		t.Fatalf("script not reading its body: got %q, want a 504", out.String())
	}
}

// TestOutputAfterExitSurvivesSlowClient: a script that fills its pipe and
// exits loses nothing while the client is slower than --exit-drain; only
// silence on the pipe ends the response early.
func TestOutputAfterExitSurvivesSlowClient(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"burst.cgi": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nhead -c 4000000 /dev/zero\n",
	}, func(c *testConfig) { c.settings.ExitDrain = 50 * time.Millisecond })
	c := ts.client(t)
	// Slow once the script has written most of its output and exited,
	// while about a pipe's worth is still unread.
	out := &slowWriter{pause: 150 * time.Millisecond, after: 3500000, times: 3}
	if _, err := c.Do(context.Background(), ts.request("burst.cgi"), out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if body := out.n - int64(len("Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")); body != 4000000 {
		t.Fatalf("got %d body bytes, want 4000000", body)
	}
	if strings.Contains(ts.logs.String(), "background processes kept stdout open") {
		t.Error("a finished script's output was taken for a background child's")
	}
}

// slowWriter is a client that, past a number of bytes, takes its time over
// a few writes: longer than --exit-drain, while the script has exited and
// output still waits in its pipe.
type slowWriter struct {
	pause time.Duration
	after int64
	times int
	n     int64
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if w.n >= w.after && w.times > 0 {
		w.times--
		time.Sleep(w.pause) // the client's pace, not a wait for a condition
	}
	w.n += int64(len(p))
	return len(p), nil
}
