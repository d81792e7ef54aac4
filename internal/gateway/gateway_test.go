package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
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
