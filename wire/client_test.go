package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClientBigParams(t *testing.T) {
	got := make(chan map[string]string, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		got <- req.Params
		return 0
	}), func(s *Server) { s.MaxParamsBytes = 1 << 20 })
	big := strings.Repeat("b", 200000) // one pair across four PARAMS records
	params := []Pair{{"A", "1"}, {"BIG", big}, {"Z", "26"}}
	if _, err := h.client(t).Do(context.Background(), &ClientRequest{Params: params}, nil, nil); err != nil {
		t.Fatal(err)
	}
	p := recv(t, "params", got)
	if p["A"] != "1" || p["BIG"] != big || p["Z"] != "26" || len(p) != 3 {
		t.Errorf("got %d params (BIG %d bytes), want A=1, BIG of %d, Z=26", len(p), len(p["BIG"]), len(big))
	}
}

func TestClientConcurrent(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		b, _ := io.ReadAll(req.Stdin)
		req.Stdout.Write(b)
		fmt.Fprintf(req.Stderr, "err %s", req.Params["N"])
		return uint32(len(b))
	}), nil)
	cl := h.client(t)
	var wg sync.WaitGroup // waits for the requests
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte('a' + i)}, 1000*i+1)
			var out, errOut bytes.Buffer
			e, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Params: []Pair{{"N", fmt.Sprint(i)}}, Stdin: bytes.NewReader(body)}, &out, &errOut)
			if err != nil || e.AppStatus != uint32(len(body)) {
				t.Errorf("request %d: got %+v, %v, want appStatus %d", i, e, err, len(body))
			}
			if !bytes.Equal(out.Bytes(), body) || errOut.String() != fmt.Sprintf("err %d", i) {
				t.Errorf("request %d: got %d bytes, stderr %q, want %d bytes, %q", i, out.Len(), errOut.String(), len(body), fmt.Sprintf("err %d", i))
			}
		}()
	}
	wg.Wait()
}

func TestClientFilter(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		in, _ := io.ReadAll(req.Stdin)
		data, _ := io.ReadAll(req.Data)
		fmt.Fprintf(req.Stdout, "%s|%s", in, data)
		return 0
	}), nil)
	cl := h.client(t)
	tests := []struct {
		name        string
		stdin, data io.Reader
		want        string
	}{
		{"both", strings.NewReader("in"), strings.NewReader("data"), "in|data"},
		{"data only", nil, strings.NewReader("data"), "|data"},
		{"neither", nil, nil, "|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := cl.Do(context.Background(), &ClientRequest{Role: RoleFilter, KeepConn: true, Stdin: tt.stdin, Data: tt.data}, &out, nil); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// fakeServer runs fn on the server end of a pipe whose other end is a Client.
func fakeServer(t *testing.T, fn func(c net.Conn)) *Client {
	t.Helper()
	srv, cli := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer srv.Close()
		fn(srv)
	}()
	cl := NewClient(cli)
	t.Cleanup(func() {
		cl.Close()
		recv(t, "fake server", done)
	})
	return cl
}

func TestClientConnEnds(t *testing.T) {
	cl := fakeServer(t, func(c net.Conn) {
		// BEGIN_REQUEST, the empty PARAMS, the empty STDIN.
		var rec Record
		for _, want := range []RecType{TypeBeginRequest, TypeParams, TypeStdin} {
			var err error
			if rec, err = ReadRecord(c, nil); err != nil || rec.Type != want {
				t.Errorf("got %v, %v, want %v", rec.Type, err, want)
			}
		}
		c.Write(AppendRecord(nil, TypeStdout, rec.ID, []byte("partial")))
	})
	var out bytes.Buffer
	_, err := cl.Do(context.Background(), &ClientRequest{}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), "connection ended") {
		t.Errorf("got %v, want a connection-ended error", err)
	}
	if out.String() != "partial" {
		t.Errorf("got %q, want \"partial\"", out.String())
	}
	if _, err := cl.Do(context.Background(), &ClientRequest{}, nil, nil); err == nil {
		t.Error("Do on a dead connection: got nil error, want one")
	}
	if _, err := cl.GetValues(context.Background(), MaxConnsName); err == nil {
		t.Error("GetValues on a dead connection: got nil error, want one")
	}
}

func TestClientAfterClose(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	cl := h.client(t)
	if err := cl.Close(); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if _, err := cl.Do(context.Background(), &ClientRequest{}, nil, nil); !errors.Is(err, errClientClosed) {
		t.Errorf("Do after Close: got %v, want %v", err, errClientClosed)
	}
}

func TestClientAbortUnanswered(t *testing.T) {
	old := abortWait
	abortWait = 50 * time.Millisecond
	defer func() { abortWait = old }()
	gotAbort := make(chan struct{})
	cl := fakeServer(t, func(c net.Conn) {
		for {
			rec, err := ReadRecord(c, nil)
			if err != nil {
				return
			}
			if rec.Type == TypeAbortRequest {
				close(gotAbort)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := cl.Do(ctx, &ClientRequest{}, nil, nil)
	if err != context.DeadlineExceeded {
		t.Errorf("got %v, want %v", err, context.DeadlineExceeded)
	}
	recv(t, "ABORT_REQUEST", gotAbort)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestClientBodyError(t *testing.T) {
	causes := make(chan error, 1)
	h := newHarness(t, "unix", blockUntilCancelled(causes), nil)
	boom := errors.New("boom")
	_, err := h.client(t).Do(context.Background(), &ClientRequest{Stdin: errReader{boom}}, nil, nil)
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
	if c := recv(t, "cause", causes); c != ErrAborted {
		t.Errorf("got cause %v, want %v", c, ErrAborted)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestClientStdoutError(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		io.WriteString(req.Stdout, "x")
		return 0
	}), nil)
	_, err := h.client(t).Do(context.Background(), &ClientRequest{}, failWriter{}, nil)
	if err == nil || err.Error() != "disk full" {
		t.Errorf("got %v, want disk full", err)
	}
}

func TestClientGetValuesUnknownType(t *testing.T) {
	cl := fakeServer(t, func(c net.Conn) {
		rec, err := ReadRecord(c, nil)
		if err != nil {
			return
		}
		c.Write(AppendUnknownType(nil, rec.Type))
		io.Copy(io.Discard, c)
	})
	if _, err := cl.GetValues(context.Background(), MaxConnsName); err != errUnknownType {
		t.Errorf("got %v, want %v", err, errUnknownType)
	}
}

// TestClientBodyStillReading: a server that answers before the body ends
// lets Do return even though a Read of the body is blocked; the ID stays
// reserved meanwhile, so the next request gets another one.
func TestClientBodyStillReading(t *testing.T) {
	ids := make(chan uint16, 2)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		ids <- req.ID
		return 0
	}), nil)
	cl := h.client(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Stdin: pr}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := recv(t, "id", ids), recv(t, "id", ids); a == b {
		t.Errorf("got ID %d twice, want distinct IDs while the first body is still read", a)
	}
}
