package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
	"golang.org/x/sys/unix"
)

// leanTestWait bounds every wait in these tests: a request, the server
// starting or stopping. Far above what any takes when it works.
const leanTestWait = 10 * time.Second

// startLeanTest runs leanMain in the test with args after -socket, and
// stops it at cleanup, failing the test if it does not return in time.
func startLeanTest(t *testing.T, args ...string) (sock string, stop func()) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "lean.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mainErr error
	// Owned by stop, which waits for it.
	go func() {
		defer close(done)
		mainErr = leanMain(ctx, append([]string{"-socket", sock}, args...))
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
			if mainErr != nil {
				t.Errorf("leanMain: got error %v, want nil", mainErr)
			}
		case <-time.After(leanTestWait):
			t.Errorf("leanMain still running %s after its context ended", leanTestWait)
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(leanTestWait)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return sock, stop
		}
		select {
		case <-done:
			t.Fatalf("leanMain returned before listening: %v", mainErr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lean wrapper not listening after %s: %v", leanTestWait, err)
		}
	}
}

// leanRequest makes one bodyless request to SCRIPT_FILENAME script (none
// if ""), with params, and returns its stdout and END_REQUEST.
func leanRequest(t *testing.T, sock, script string, params ...wire.Pair) (string, wire.EndRequest) {
	t.Helper()
	c, err := dialConn(context.Background(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	_ = c.nc.SetDeadline(time.Now().Add(leanTestWait))
	if script != "" {
		params = append(params, wire.Pair{Name: "SCRIPT_FILENAME", Value: script})
	}
	var out bytes.Buffer
	end, err := c.exchange(encodeRequest(1, params, false), 1, &out)
	if err != nil {
		t.Fatalf("request to %q: got error %v, want END_REQUEST", script, err)
	}
	// The lean wrapper serves one request per connection.
	if n, err := c.nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after END_REQUEST: got %d bytes and %v, want io.EOF", n, err)
	}
	return out.String(), end
}

// tinyProgram compiles cgi/tiny.c, as the harness does, into dir.
func tinyProgram(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc to compile cgi/tiny.c")
	}
	src, err := cgiSources.ReadFile("cgi/tiny.c")
	if err != nil {
		t.Fatal(err)
	}
	srcPath := filepath.Join(dir, "tiny.c")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tiny.cgi")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := compileC(ctx, srcPath, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// shellScript writes a #!/bin/sh script with mode into dir.
func shellScript(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const leanHead = "Content-Type: text/plain\r\n\r\n"

// TestLeanServes: the lean wrapper answers each request with exactly the
// script's output and its exit status, gives the script its params, the
// CGI variables they lack and its own directory, and answers a request
// it cannot serve with a 404 rather than hanging.
func TestLeanServes(t *testing.T) {
	dir := t.TempDir()
	tiny := tinyProgram(t, dir)
	env := shellScript(t, dir, "env.cgi",
		`printf 'Content-Type: text/plain\r\n\r\n%s|%s|%s|%s\n' "$QUERY_STRING" "$GATEWAY_INTERFACE" "$SERVER_SOFTWARE" "$PWD"; exit 3`, 0o755)
	killed := shellScript(t, dir, "killed.cgi", "kill -9 $$\n", 0o755)
	notExec := shellScript(t, dir, "plain.cgi", "exit 0\n", 0o644)
	sock, _ := startLeanTest(t)
	notFound := "Status: 404 Not Found\r\n" + leanHead + "not found\n"
	tests := []struct {
		name, script string
		params       []wire.Pair
		wantOut      string
		wantStatus   uint32
	}{
		{"compiled tiny.c", tiny, nil, leanHead + "ok\n", 0},
		{"exit 3, params and defaults", env, []wire.Pair{{Name: "QUERY_STRING", Value: "a=1"}, {Name: "SERVER_SOFTWARE", Value: "nginx"}},
			leanHead + "a=1|CGI/1.1|nginx|" + dir + "\n", 3},
		{"killed by SIGKILL", killed, nil, "", 128 + 9},
		{"no SCRIPT_FILENAME", "", []wire.Pair{{Name: "QUERY_STRING", Value: ""}}, notFound, 0},
		{"no such script", filepath.Join(dir, "missing.cgi"), nil, notFound, 0},
		{"not executable", notExec, nil, notFound, 0},
		{"a directory", dir, nil, notFound, 0},
		{"relative path", "tiny.cgi", nil, notFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, end := leanRequest(t, sock, tt.script, tt.params...)
			if out != tt.wantOut || end.AppStatus != tt.wantStatus || end.ProtocolStatus != wire.StatusRequestComplete {
				t.Errorf("got %q, app status %d, %v; want %q, %d, %v",
					out, end.AppStatus, end.ProtocolStatus, tt.wantOut, tt.wantStatus, wire.StatusRequestComplete)
			}
		})
	}
}

// TestLeanMalformedEndsConnection: whatever it cannot read as a bodyless
// request, the lean wrapper answers by closing the connection, never by
// waiting for more, and goes on serving.
func TestLeanMalformedEndsConnection(t *testing.T) {
	dir := t.TempDir()
	tiny := tinyProgram(t, dir)
	sock, _ := startLeanTest(t)
	head := func(params []byte) []byte {
		b := wire.AppendBeginRequest(nil, 1, wire.RoleResponder, 0)
		b = wire.AppendRecord(b, wire.TypeParams, 1, params)
		return wire.AppendRecord(b, wire.TypeParams, 1, nil)
	}
	good := head(wire.AppendPair(nil, "SCRIPT_FILENAME", tiny))
	tests := []struct {
		name  string
		input []byte
		// halfClose ends the input, for requests cut short.
		halfClose bool
	}{
		{"protocol version 2", []byte{2, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, false},
		{"STDOUT first", wire.AppendRecord(nil, wire.TypeStdout, 1, []byte("x")), false},
		{"management record", wire.AppendRecord(nil, wire.TypeGetValues, 0, nil), false},
		{"BEGIN_REQUEST of 7 bytes", wire.AppendRecord(nil, wire.TypeBeginRequest, 1, make([]byte, 7)), false},
		{"PARAMS of another request", wire.AppendRecord(wire.AppendBeginRequest(nil, 1, wire.RoleResponder, 0), wire.TypeParams, 2, nil), false},
		{"STDIN before the params end", wire.AppendRecord(wire.AppendBeginRequest(nil, 1, wire.RoleResponder, 0), wire.TypeStdin, 1, nil), false},
		{"a body", wire.AppendRecord(good, wire.TypeStdin, 1, []byte("body")), false},
		{"malformed pairs", wire.AppendRecord(head([]byte{0x80, 1}), wire.TypeStdin, 1, nil), false},
		{"ends inside a record", good[:len(good)-4], true},
		{"ends before STDIN", good, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(leanTestWait))
			if _, err := c.Write(tt.input); err != nil {
				t.Fatal(err)
			}
			if tt.halfClose {
				_ = c.(*net.UnixConn).CloseWrite()
			}
			got, err := io.ReadAll(c)
			if err != nil || len(got) != 0 {
				t.Errorf("got %d bytes and error %v, want the connection closed with nothing sent", len(got), err)
			}
		})
	}
	if out, end := leanRequest(t, sock, tiny); out != leanHead+"ok\n" || end.AppStatus != 0 {
		t.Errorf("after the malformed requests: got %q, app status %d; want %q, 0", out, end.AppStatus, leanHead+"ok\n")
	}
}

// TestLeanStopKillsScripts: stopping the lean wrapper ends a request
// whose script would run for a minute, killing the script, well before
// the server's own drain deadline.
func TestLeanStopKillsScripts(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	slow := shellScript(t, dir, "slow.cgi", "echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+"\nexec sleep 60\n", 0o755)
	sock, stop := startLeanTest(t)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(leanTestWait))
	req := encodeRequest(1, []wire.Pair{{Name: "SCRIPT_FILENAME", Value: slow}}, false)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	pid := 0
	for deadline := time.Now().Add(leanTestWait); pid == 0; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if pid == 0 && time.Now().After(deadline) {
			t.Fatalf("the script did not start within %s", leanTestWait)
		}
	}
	start := time.Now()
	stop()
	if took := time.Since(start); took >= leanDrain {
		t.Errorf("stopping took %s, want less than the drain deadline %s", took, leanDrain)
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("script %d after the server stopped: kill 0 gives %v, want ESRCH", pid, err)
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
		t.Errorf("client: got %d bytes and error %v, want the connection closed with nothing sent", len(got), err)
	}
}
