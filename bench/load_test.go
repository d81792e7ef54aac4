package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// serve runs a wire.Server with h on a unix socket for the test's life.
func serve(t testing.TB, h wire.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &wire.Server{Handler: h}
	ctx, cancel := context.WithCancel(context.Background())
	// serving waits for Serve to return once the test ends.
	var serving sync.WaitGroup
	serving.Go(func() { srv.Serve(ctx, l) })
	t.Cleanup(func() {
		cancel()
		srv.Close()
		serving.Wait()
	})
	return sock
}

// respond is a handler that answers like a CGI program: the head, then
// the body, after reading the whole request body.
func respond(head, body string) wire.HandlerFunc {
	return func(ctx context.Context, req *wire.Request) uint32 {
		io.Copy(io.Discard, req.Stdin)
		io.WriteString(req.Stdout, head+body)
		return 0
	}
}

func TestRunLoad(t *testing.T) {
	tests := []struct {
		name      string
		h         wire.HandlerFunc
		spec      loadSpec
		wantOK    int
		wantFails int
	}{
		{"all served", respond("Content-Type: text/plain\r\n\r\n", "ok\n"),
			loadSpec{Concurrency: 3, PerWorker: 4, WantBody: 3}, 12, 0},
		{"kept connections", respond("Content-Type: text/plain\r\n\r\n", "ok\n"),
			loadSpec{Concurrency: 2, PerWorker: 5, WantBody: 3, KeepConn: true}, 10, 0},
		{"error status counts as failure", respond("Status: 500 Internal Server Error\r\n\r\n", "x"),
			loadSpec{Concurrency: 2, PerWorker: 2, WantBody: -1}, 0, 4},
		{"short body counts as failure", respond("A: b\r\n\r\n", "o"),
			loadSpec{Concurrency: 1, PerWorker: 3, WantBody: 3}, 0, 3},
		{"no head counts as failure", respond("", "just text"),
			loadSpec{Concurrency: 1, PerWorker: 2, WantBody: -1}, 0, 2},
		{"body is sent", func(ctx context.Context, req *wire.Request) uint32 {
			n, _ := io.Copy(io.Discard, req.Stdin)
			io.WriteString(req.Stdout, "A: b\r\n\r\n"+strconv.FormatInt(n, 10))
			return 0
		}, loadSpec{Concurrency: 2, PerWorker: 2, Body: 1 << 20, WantBody: int64(len("1048576"))}, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Network, spec.Addr = "unix", serve(t, tt.h)
			spec.Timeout = 10 * time.Second
			r := runLoad(context.Background(), spec)
			if r.Requests != tt.wantOK || r.Errors != tt.wantFails {
				t.Errorf("got %d served, %d failed (%v); want %d, %d", r.Requests, r.Errors, r.FirstErr, tt.wantOK, tt.wantFails)
			}
			if len(r.Latencies) != r.Requests {
				t.Errorf("got %d latencies, want one per served request (%d)", len(r.Latencies), r.Requests)
			}
			if r.BytesIn != int64(r.Requests)*spec.Body {
				t.Errorf("bytes in: got %d, want %d", r.BytesIn, int64(r.Requests)*spec.Body)
			}
		})
	}
}

func TestRunLoadDuration(t *testing.T) {
	sock := serve(t, respond("A: b\r\n\r\n", "ok\n"))
	r := runLoad(context.Background(), loadSpec{Network: "unix", Addr: sock, Concurrency: 2,
		Duration: 100 * time.Millisecond, WantBody: 3, Timeout: 10 * time.Second})
	if r.Requests == 0 || r.Errors != 0 {
		t.Errorf("got %d served, %d failed (%v); want some served, none failed", r.Requests, r.Errors, r.FirstErr)
	}
	if r.Elapsed < 100*time.Millisecond {
		t.Errorf("elapsed: got %v, want at least the duration", r.Elapsed)
	}
}

// TestLoadTimeoutWhenServerStopsReading pins the hang found on fcgiwrap's
// echo: a server that neither reads the body nor answers left the
// client's writer blocked, and the request never ended. It must end by
// the timeout and be counted as timed out.
func TestLoadTimeoutWhenServerStopsReading(t *testing.T) {
	release := make(chan struct{})
	sock := serve(t, func(ctx context.Context, req *wire.Request) uint32 {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return 0
	})
	defer close(release)
	done := make(chan loadResult, 1)
	go func() {
		done <- runLoad(context.Background(), loadSpec{Network: "unix", Addr: sock, Concurrency: 1, PerWorker: 1,
			Body: 64 << 20, WantBody: -1, Timeout: 200 * time.Millisecond})
	}()
	select {
	case r := <-done:
		if r.Errors != 1 || !r.TimedOut {
			t.Errorf("got %d failed, timed out %v (%v); want 1 failed, timed out", r.Errors, r.TimedOut, r.FirstErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request did not end within 20 s of a 200 ms timeout")
	}
}

func TestZeroReader(t *testing.T) {
	for _, n := range []int64{0, 1, 65535, 1 << 20} {
		t.Run(strconv.FormatInt(n, 10), func(t *testing.T) {
			got, err := io.Copy(io.Discard, &zeroReader{left: n})
			if err != nil || got != n {
				t.Errorf("got %d, %v; want %d, nil", got, err, n)
			}
		})
	}
}

// BenchmarkWireStdout measures the load generator's own ceiling on
// response throughput: an in-process wire.Server writing 128 KiB at a time,
// as the big response program does. Far above the wrappers' rates, it
// shows the client is not what limits the streaming scenarios.
func BenchmarkWireStdout(b *testing.B) {
	const size = 64 << 20
	chunk := make([]byte, 128<<10)
	sock := serve(b, func(ctx context.Context, req *wire.Request) uint32 {
		io.WriteString(req.Stdout, "A: b\r\n\r\n")
		for left := size; left > 0; left -= len(chunk) {
			if _, err := req.Stdout.Write(chunk); err != nil {
				return 1
			}
		}
		return 0
	})
	b.SetBytes(size)
	spec := loadSpec{Network: "unix", Addr: sock, Concurrency: 1, PerWorker: 1, WantBody: size}
	for b.Loop() {
		if r := runLoad(context.Background(), spec); r.Errors != 0 {
			b.Fatal(r.FirstErr)
		}
	}
}

// BenchmarkWireRoundTrip is the generator's per-request cost with an
// instant handler, dialling per request as in the scenarios.
func BenchmarkWireRoundTrip(b *testing.B) {
	sock := serve(b, respond("A: b\r\n\r\n", "ok\n"))
	spec := loadSpec{Network: "unix", Addr: sock, Concurrency: 1, PerWorker: 1, WantBody: 3}
	for b.Loop() {
		if r := runLoad(context.Background(), spec); r.Errors != 0 {
			b.Fatal(r.FirstErr)
		}
	}
}

// BenchmarkWireStdin is the load generator's ceiling on upload
// throughput: an in-process wire.Server that discards the body.
func BenchmarkWireStdin(b *testing.B) {
	const size = 64 << 20
	sock := serve(b, func(ctx context.Context, req *wire.Request) uint32 {
		n, _ := io.Copy(io.Discard, req.Stdin)
		io.WriteString(req.Stdout, "A: b\r\n\r\n"+strconv.FormatInt(n, 10))
		return 0
	})
	b.SetBytes(size)
	spec := loadSpec{Network: "unix", Addr: sock, Concurrency: 1, PerWorker: 1, Body: size, WantBody: int64(len(strconv.Itoa(size)))}
	for b.Loop() {
		if r := runLoad(context.Background(), spec); r.Errors != 0 {
			b.Fatal(r.FirstErr)
		}
	}
}

// TestExchangeLongParamsAndStderr: the goroutine-free exchange splits
// params longer than one record, skips FCGI_STDERR, and puts the stdout
// records back together.
func TestExchangeLongParamsAndStderr(t *testing.T) {
	long := strings.Repeat("v", 100_000) // two PARAMS records
	sock := serve(t, func(ctx context.Context, req *wire.Request) uint32 {
		if len(req.Params["LONG"]) != len(long) {
			io.WriteString(req.Stdout, "Status: 400 Bad Request\r\n\r\n")
			return 1
		}
		io.WriteString(req.Stdout, "Content-Type: text/plain\r\n\r\n")
		io.WriteString(req.Stderr, "a warning\n")
		io.WriteString(req.Stdout, "part 1,")
		io.WriteString(req.Stdout, "part 2")
		return 0
	})
	spec := loadSpec{Network: "unix", Addr: sock, Params: []wire.Pair{{Name: "LONG", Value: long}}, WantBody: int64(len("part 1,part 2")), Timeout: 10 * time.Second}
	var c *conn
	defer func() { c.close() }()
	for i := range 2 { // the second on a fresh connection too
		_, body, _, err := oneRequest(context.Background(), &spec, &c)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body != spec.WantBody {
			t.Errorf("request %d: got %d body bytes, want %d", i, body, spec.WantBody)
		}
		c.close()
		c = nil
	}
}
