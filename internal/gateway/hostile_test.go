package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// The hostile-input battery: each case sends what an attacker (or a
// broken client) might, checks the answer or the log line, then checks
// that a normal request is still served and that no goroutine or file
// descriptor is left behind.

const okScript = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv | sort\n"

func rawRecord(t wire.RecType, id uint16, content []byte) []byte {
	return wire.AppendRecord(nil, t, id, content)
}

func pairs(kv ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = wire.AppendPair(b, kv[i], kv[i+1])
	}
	return b
}

// paramsRecords splits content into PARAMS records and ends the stream.
func paramsRecords(id uint16, content []byte) []byte {
	var out []byte
	for len(content) > 0 {
		n := min(len(content), wire.MaxContent)
		out = append(out, rawRecord(wire.TypeParams, id, content[:n])...)
		content = content[n:]
	}
	return append(out, rawRecord(wire.TypeParams, id, nil)...)
}

// sendRaw writes b on a fresh connection, half-closes it if halfClose, and
// returns what the server sent back until it closed the connection (or
// closeAfter elapsed).
func sendRaw(t *testing.T, ts *testServer, b []byte, halfClose bool, closeAfter time.Duration) []byte {
	t.Helper()
	conn, err := net.Dial("unix", ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// writing waits for the sender; the server may stop reading early.
	var writing sync.WaitGroup
	writing.Add(1)
	go func() {
		defer writing.Done()
		if _, err := conn.Write(b); err == nil && halfClose {
			conn.(*net.UnixConn).CloseWrite()
		}
	}()
	conn.SetReadDeadline(time.Now().Add(closeAfter))
	got, _ := io.ReadAll(conn)
	conn.Close()
	writing.Wait()
	return got
}

// stdoutOf collects the FCGI_STDOUT content of request id in raw output.
func stdoutOf(raw []byte, id uint16) string {
	var out strings.Builder
	r := bytes.NewReader(raw)
	buf := make([]byte, wire.RecordBufSize)
	for {
		rec, err := wire.ReadRecord(r, buf)
		if err != nil {
			return out.String()
		}
		if rec.Type == wire.TypeStdout && rec.ID == id {
			out.Write(rec.Content)
		}
	}
}

// baseline is what the process holds when idle, to compare after an attack.
type baseline struct{ goroutines, fds int }

func takeBaseline(t *testing.T, ts *testServer) baseline {
	t.Helper()
	ts.mustServe(t)
	return baseline{goroutines: runtime.NumGoroutine(), fds: countFDs(t)}
}

// mustServe sends a normal request on a fresh connection and checks it works.
func (ts *testServer) mustServe(t *testing.T) {
	t.Helper()
	c, err := wire.Dial(context.Background(), "unix", ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	end, err := c.Do(ctx, ts.request("ok.cgi"), &out, io.Discard)
	if err != nil || end.ProtocolStatus != wire.StatusRequestComplete {
		t.Fatalf("normal request after the attack: %v, %v", err, end.ProtocolStatus)
	}
	if !strings.Contains(out.String(), "GATEWAY_INTERFACE=CGI/1.1") {
		t.Fatalf("normal request after the attack: got %q", out.String())
	}
}

func (b baseline) check(t *testing.T, ts *testServer) {
	t.Helper()
	// The attacking connection's requests hold --max-reqs slots until its
	// teardown is complete.
	testutil.WaitFor(t, "the connections to be gone", func() bool { return ts.server.Stats() == wire.ServerStats{} })
	ts.mustServe(t)
	testutil.WaitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= b.goroutines })
	testutil.WaitFor(t, "file descriptors back to the baseline", func() bool { return countFDs(t) <= b.fds })
	testutil.WaitFor(t, "every script reaped", func() bool { return len(childrenOf(os.Getpid())) == 0 })
}

func TestHostileInput(t *testing.T) {
	ts := startTestServer(t, map[string]string{"ok.cgi": okScript},
		func(c *testConfig) { c.server.MaxConns, c.server.MaxReqs = 64, 256 })
	script := ts.dir + "/ok.cgi"
	normalParams := []string{"SCRIPT_FILENAME", script, "REQUEST_METHOD", "GET", "SCRIPT_NAME", "/ok.cgi"}
	begin := func(id uint16) []byte { return wire.AppendBeginRequest(nil, id, wire.RoleResponder, 0) }

	tests := []struct {
		name      string
		input     func() []byte
		halfClose bool // the client stops sending after input
		wait      time.Duration
		check     func(t *testing.T, got []byte)
		log       string // a line the server must have logged
	}{
		{
			name: "NUL and = in param names",
			input: func() []byte {
				p := pairs(append(normalParams, "BAD\x00NAME", "x", "A=B", "y", "HTTP_X_NUL", "a\x00b", "GOOD_NAME", "z")...)
				return bytes.Join([][]byte{begin(1), paramsRecords(1, p), rawRecord(wire.TypeStdin, 1, nil)}, nil)
			},
			wait: 20 * time.Second,
			check: func(t *testing.T, got []byte) {
				out := stdoutOf(got, 1)
				if !strings.Contains(out, "GOOD_NAME=z") {
					t.Errorf("got %q, want GOOD_NAME=z in the environment", out)
				}
				for _, bad := range []string{"BAD", "A=B", "HTTP_X_NUL"} {
					if strings.Contains(out, bad) {
						t.Errorf("got %q in the environment, want it dropped", bad)
					}
				}
			},
		},
		{
			name: "100k params",
			input: func() []byte {
				var p []byte
				for i := 0; i < 100_000; i++ {
					p = wire.AppendPair(p, "P", "")
				}
				return bytes.Join([][]byte{begin(1), paramsRecords(1, p)}, nil)
			},
			wait: 20 * time.Second,
			check: func(t *testing.T, got []byte) {
				if len(got) != 0 {
					t.Errorf("got %d bytes, want the connection closed without an answer", len(got))
				}
			},
			log: "name-value pairs, more than 4096",
		},
		{
			name: "a 10 MB param value",
			input: func() []byte {
				return bytes.Join([][]byte{begin(1), paramsRecords(1, pairs("BIG", strings.Repeat("v", 10<<20)))}, nil)
			},
			wait: 20 * time.Second,
			log:  "exceed 1048576 bytes",
		},
		{
			name: "a record claiming more bytes than it sends",
			input: func() []byte {
				hdr := rawRecord(wire.TypeParams, 1, nil)
				binary.BigEndian.PutUint16(hdr[4:], 5000)
				return append(append(begin(1), hdr...), "only a few bytes"...)
			},
			halfClose: true,
			wait:      20 * time.Second,
			log:       "malformed FastCGI input, closing connection: remote=@ error=\"unexpected EOF\"",
		},
		{
			name: "cut in the middle of a header",
			input: func() []byte {
				return append(begin(1), rawRecord(wire.TypeParams, 1, []byte("abc"))[:5]...)
			},
			halfClose: true,
			wait:      20 * time.Second,
			log:       "malformed FastCGI input, closing connection: remote=@ error=\"unexpected EOF\"",
		},
		{
			name: "BEGIN flood",
			input: func() []byte {
				var b []byte
				for id := uint16(1); id <= 5000; id++ {
					b = append(b, wire.AppendBeginRequest(nil, id, wire.RoleResponder, wire.FlagKeepConn)...)
				}
				return b
			},
			// The client's EOF ends it once every BEGIN has been answered.
			halfClose: true,
			wait:      20 * time.Second,
			check: func(t *testing.T, got []byte) {
				overloaded := 0
				r := bytes.NewReader(got)
				buf := make([]byte, wire.RecordBufSize)
				for {
					rec, err := wire.ReadRecord(r, buf)
					if err != nil {
						break
					}
					if rec.Type == wire.TypeEndRequest {
						if e, _ := wire.ParseEndRequest(rec.Content); e.ProtocolStatus == wire.StatusOverloaded {
							overloaded++
						}
					}
				}
				if overloaded != 5000-256 {
					t.Errorf("got %d FCGI_OVERLOADED answers, want %d (past --max-reqs 256)", overloaded, 5000-256)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := takeBaseline(t, ts)
			logStart := len(ts.logs.String())
			got := sendRaw(t, ts, tt.input(), tt.halfClose, tt.wait)
			if tt.check != nil {
				tt.check(t, got)
			}
			if tt.log != "" {
				// Only what this case logged counts.
				testutil.WaitFor(t, "log line "+tt.log, func() bool { return strings.Contains(ts.logs.String()[logStart:], tt.log) })
			}
			base.check(t, ts)
		})
	}
	if strings.Contains(ts.logs.String(), "panic") {
		t.Errorf("the server log mentions a panic:\n%s", ts.logs.String())
	}
}

// TestSlowloris: a client that begins a request and never completes its
// params is cut off after --params-timeout with one log line, while other
// connections are served.
func TestSlowloris(t *testing.T) {
	ts := startTestServer(t, map[string]string{"ok.cgi": okScript}, func(c *testConfig) { c.server.ParamsTimeout = 500 * time.Millisecond })
	base := takeBaseline(t, ts)
	conn, err := net.Dial("unix", ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := wire.AppendBeginRequest(nil, 1, wire.RoleResponder, 0)
	start = append(start, rawRecord(wire.TypeParams, 1, pairs("A", "b"))...)
	if _, err := conn.Write(start); err != nil {
		t.Fatal(err)
	}
	ts.mustServe(t)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, err := io.ReadAll(conn); err != nil || len(got) != 0 {
		t.Fatalf("got %q, %v; want the connection closed without an answer", got, err)
	}
	testutil.WaitFor(t, "the log line", func() bool { return strings.Contains(ts.logs.String(), "params not complete in time") })
	conn.Close()
	base.check(t, ts)
}

// TestAbandonedConnections: thousands of connections opened and dropped
// without a byte cost nothing once gone; past --max-conns they are closed
// at accept with a log line.
func TestAbandonedConnections(t *testing.T) {
	ts := startTestServer(t, map[string]string{"ok.cgi": okScript}, func(c *testConfig) { c.server.MaxConns = 256 })
	base := takeBaseline(t, ts)
	const n = 5000
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("unix", ts.socket)
		if err != nil {
			// The listen backlog can be full for a moment; what was
			// opened is enough to pass --max-conns.
			break
		}
		conns = append(conns, c)
		if len(conns)%500 == 0 {
			// Let the accept loop keep up, so the backlog does not refuse.
			testutil.WaitFor(t, "the server to accept", func() bool {
				return ts.server.Stats().Conns >= min(len(conns), 256)-1
			})
		}
	}
	t.Logf("opened %d connections", len(conns))
	if len(conns) < 1000 {
		t.Fatalf("opened only %d connections", len(conns))
	}
	testutil.WaitFor(t, "the connection limit to show in the log", func() bool {
		return strings.Contains(ts.logs.String(), "too many connections, closing new ones")
	})
	if got := ts.server.Stats().Conns; got > 256 {
		t.Errorf("got %d connections served, want at most --max-conns 256", got)
	}
	for _, c := range conns {
		c.Close()
	}
	base.check(t, ts)
}
