package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary stand in for a CGI program, as net/http/cgi's
// tests do: run with BENCH_TEST_PROGRAM set, it is that program.
func TestMain(m *testing.M) {
	switch os.Getenv("BENCH_TEST_PROGRAM") {
	case "":
		os.Exit(m.Run())
	case "big":
		os.Exit(bigProgram())
	case "count":
		os.Exit(countProgram())
	case "fail":
		fmt.Print("Content-Type: text/plain\r\n\r\npartial")
		os.Exit(1)
	}
	os.Exit(2)
}

// bigProgram is cgi/big.c: a head, then QUERY_STRING zero bytes in 128 KiB
// writes. It first checks that its stdout is the pipe fcgi-wrap would
// give it, and fails if not, so the caller's test fails too.
func bigProgram() int {
	if sz, err := unix.FcntlInt(1, unix.F_GETPIPE_SZ, 0); err != nil || sz != pipeSize {
		fmt.Fprintf(os.Stderr, "stdout pipe size %d (%v), want %d\n", sz, err, pipeSize)
		return 3
	}
	left, err := strconv.ParseInt(os.Getenv("QUERY_STRING"), 10, 64)
	if err != nil {
		return 4
	}
	if _, err := os.Stdout.WriteString("Content-Type: application/octet-stream\r\n\r\n"); err != nil {
		return 1
	}
	buf := make([]byte, 128<<10)
	for left > 0 {
		n := min(left, int64(len(buf)))
		if _, err := os.Stdout.Write(buf[:n]); err != nil {
			return 1
		}
		left -= n
	}
	return 0
}

// programParams are the params of a request to the test binary as program.
func programParams(program, query string) []wire.Pair {
	params := cgiParams(os.Args[0], query, 0)
	// The race runtime waits a second at exit unless told not to.
	return append(params, wire.Pair{Name: "BENCH_TEST_PROGRAM", Value: program},
		wire.Pair{Name: "GORACE", Value: "atexit_sleep_ms=0"})
}

func TestPipeRead(t *testing.T) {
	// Three times the pipe, and not a multiple of any write or read size.
	const size = 3<<20 + 12345
	res, err := pipeRead(context.Background(), os.Args[0], programParams("big", strconv.Itoa(size)))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if res.Requests != 1 || res.BytesOut != size {
		t.Errorf("got %d requests and %d body bytes, want 1 and %d", res.Requests, res.BytesOut, size)
	}
	if res.mibps() <= 0 {
		t.Errorf("got %v MiB/s, want a positive rate", res.mibps())
	}
}

func TestPipeReadFails(t *testing.T) {
	for _, tt := range []struct{ name, program string }{
		{"program exits 1", "fail"},
		{"program is not a CGI program", "unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pipeRead(context.Background(), os.Args[0], programParams(tt.program, "10")); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}

// countProgram is cgi/count.c: it reads its stdin to EOF and answers with
// the count. It first checks that its stdin is the pipe fcgi-wrap would
// give a large body, and fails if not.
func countProgram() int {
	if sz, err := unix.FcntlInt(0, unix.F_GETPIPE_SZ, 0); err != nil || sz != pipeSize {
		fmt.Fprintf(os.Stderr, "stdin pipe size %d (%v), want %d\n", sz, err, pipeSize)
		return 3
	}
	n, err := io.Copy(io.Discard, os.Stdin)
	if err != nil {
		return 4
	}
	fmt.Printf("Content-Type: text/plain\r\n\r\n%d\n", n)
	return 0
}

func TestPipeWrite(t *testing.T) {
	const size = 3<<20 + 12345
	res, err := pipeWrite(context.Background(), os.Args[0], programParams("count", ""), size)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if res.Requests != 1 || res.BytesIn != size || res.mibps() <= 0 {
		t.Errorf("got %d requests, %d body bytes and %v MiB/s; want 1, %d and a positive rate", res.Requests, res.BytesIn, res.mibps(), size)
	}
}

func TestPipeWriteFails(t *testing.T) {
	for _, tt := range []struct{ name, program string }{
		{"program exits 1", "fail"},
		{"program is not a CGI program", "unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pipeWrite(context.Background(), os.Args[0], programParams(tt.program, "10"), 1000); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}
