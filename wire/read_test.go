package wire

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
)

// readCounter counts the reads of a connection through its net.Conn
// Read; reads through its syscall.RawConn go uncounted.
type readCounter struct {
	net.Conn
	reads atomic.Int32
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *readCounter) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// TestRequestInOneRead pins that a request the web server sends in one
// write is read in one read: the one made on waking without a buffer.
// Reading its header first took a second read of the rest.
func TestRequestInOneRead(t *testing.T) {
	checkNoLeak(t)
	ln, err := net.Listen("unix", "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rc := &readCounter{Conn: sc}
	srv := &Server{Handler: tinyHandler}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(context.Background(), rc)
	}()

	want := tinyResponse()
	got := make([]byte, len(want))
	for i := range 3 {
		if _, err := client.Write(tinyRequest(1, true)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("request %d: got % x, want % x", i, got, want)
		}
		if n := rc.reads.Load(); n != 0 {
			t.Fatalf("request %d: got %d reads after the first, want none", i, n)
		}
	}
	client.Close()
	recv(t, "ServeConn to return", done)
	srv.Close()
}
