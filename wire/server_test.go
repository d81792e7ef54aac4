package wire

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestResponseBytes pins the exact bytes of a response: the data, the empty
// STDOUT, the empty STDERR only when stderr was used, then END_REQUEST.
func TestResponseBytes(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   []byte
	}{
		{"stdout only", "", bytes.Join([][]byte{
			{1, 6, 0, 1, 0, 2, 6, 0, 'h', 'i', 0, 0, 0, 0, 0, 0},
			{1, 6, 0, 1, 0, 0, 0, 0},
			{1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0},
		}, nil)},
		{"with stderr", "oops!!!!", bytes.Join([][]byte{
			{1, 6, 0, 1, 0, 2, 6, 0, 'h', 'i', 0, 0, 0, 0, 0, 0},
			{1, 7, 0, 1, 0, 8, 0, 0, 'o', 'o', 'p', 's', '!', '!', '!', '!'},
			{1, 6, 0, 1, 0, 0, 0, 0},
			{1, 7, 0, 1, 0, 0, 0, 0},
			{1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0},
		}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
				io.WriteString(req.Stdout, "hi")
				if tt.stderr != "" {
					io.WriteString(req.Stderr, tt.stderr)
				}
				return 258
			}), nil)
			c := h.raw(t)
			c.send(begin(1, RoleResponder, false, "A", "b"), rawRec(TypeStdin, 1, nil, 0))
			got := make([]byte, len(tt.want))
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			if _, err := io.ReadFull(c.br, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got\n%x\nwant\n%x", got, tt.want)
			}
			c.expectEOF()
		})
	}
}

// TestClientStyles feeds requests shaped like real web servers send them.
func TestClientStyles(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160000 bytes
	params := []Pair{
		{"SCRIPT_FILENAME", "/srv/cgi-bin/x.cgi"},
		{"QUERY_STRING", "a=1"},
		{"LONG", strings.Repeat("L", 300)}, // 4-byte value length
		{"EMPTY", ""},
	}
	var pairs []byte
	for _, p := range params {
		pairs = append(pairs, rawPair(p.Name, p.Value, false)...)
	}
	bodyRecs := func(size, pad int) []byte {
		var b []byte
		for rest := body; len(rest) > 0; {
			n := min(size, len(rest))
			p := 0
			if pad < 0 {
				p = padLen(n)
			} else {
				p = pad
			}
			b = append(b, rawRec(TypeStdin, 1, rest[:n], p)...)
			rest = rest[n:]
		}
		return append(b, rawRec(TypeStdin, 1, nil, 0)...)
	}
	head := AppendBeginRequest(nil, 1, RoleResponder, 0)
	tests := []struct {
		name string
		in   []byte
	}{
		{"nginx: params in one record, body in 32 KiB records padded to 8", bytes.Join([][]byte{
			head, rawRec(TypeParams, 1, pairs, padLen(len(pairs))), rawRec(TypeParams, 1, nil, 0), bodyRecs(32<<10, -1),
		}, nil)},
		{"lighttpd: no padding, 65535-byte body records", bytes.Join([][]byte{
			head, rawRec(TypeParams, 1, pairs, 0), rawRec(TypeParams, 1, nil, 0), bodyRecs(MaxContent, 0),
		}, nil)},
		{"params split mid-pair and mid-length", func() []byte {
			b := head
			// Cut inside the first pair's name, then inside the 4-byte length
			// of LONG's value, then one byte per record for a while.
			longAt := bytes.Index(pairs, []byte{4, 0x80})
			cuts := []int{0, 5, longAt + 3}
			for i := longAt + 3; i < longAt+20; i++ {
				cuts = append(cuts, i+1)
			}
			cuts = append(cuts, len(pairs))
			for i := 1; i < len(cuts); i++ {
				b = append(b, rawRec(TypeParams, 1, pairs[cuts[i-1]:cuts[i]], 0)...)
			}
			return bytes.Join([][]byte{b, rawRec(TypeParams, 1, nil, 0), bodyRecs(1000, 3)}, nil)
		}()},
		{"padding 255 everywhere", bytes.Join([][]byte{
			rawRec(TypeBeginRequest, 1, head[8:], 255), rawRec(TypeParams, 1, pairs, 255), rawRec(TypeParams, 1, nil, 255),
			bodyRecs(40000, 255),
		}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan map[string]string, 1)
			h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
				got <- req.Params
				return echo(ctx, req)
			}), nil)
			c := h.raw(t)
			// Send while reading: the echo answers before the body is all in.
			go c.Write(tt.in)
			r := c.responses(1)[1]
			p := recv(t, "params", got)
			for _, want := range params {
				if v, ok := p[want.Name]; !ok || v != want.Value {
					t.Errorf("param %s: got %q (present %v), want %q", want.Name, v, ok, want.Value)
				}
			}
			if len(p) != len(params) {
				t.Errorf("got %d params, want %d", len(p), len(params))
			}
			if !bytes.Equal(r.stdout, body) {
				t.Errorf("got %d body bytes back, want %d identical", len(r.stdout), len(body))
			}
			if r.end != (EndRequest{}) || !r.stdoutEnded {
				t.Errorf("got end %+v stdout ended %v, want {0 REQUEST_COMPLETE} true", r.end, r.stdoutEnded)
			}
			c.expectEOF()
		})
	}
}

func TestParamsLastValueWins(t *testing.T) {
	got := make(chan map[string]string, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		got <- req.Params
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false, "A", "first", "B", "x", "A", "second"), rawRec(TypeStdin, 1, nil, 0))
	c.responses(1)
	p := recv(t, "params", got)
	if p["A"] != "second" || p["B"] != "x" {
		t.Errorf("got %v, want A=second B=x", p)
	}
}

// TestStdoutSplit checks that one big Write becomes records of at most
// 65535 bytes, each 8-aligned, with the bytes in order.
func TestStdoutSplit(t *testing.T) {
	payload := make([]byte, 3*MaxContent+3395)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if n, err := req.Stdout.Write(payload); n != len(payload) || err != nil {
			t.Errorf("Write: got %d, %v, want %d, nil", n, err, len(payload))
		}
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, nil, 0))
	var lens []int
	var got []byte
	for {
		rec := c.next()
		if rec.Type != TypeStdout || len(rec.Content) == 0 {
			break
		}
		if want := padLen(len(rec.Content)); int(rec.PaddingLength) != want {
			t.Errorf("got padding %d for %d bytes, want %d", rec.PaddingLength, len(rec.Content), want)
		}
		lens = append(lens, len(rec.Content))
		got = append(got, rec.Content...)
	}
	if want := []int{MaxContent, MaxContent, MaxContent, 3395}; fmt.Sprint(lens) != fmt.Sprint(want) {
		t.Errorf("got record sizes %v, want %v", lens, want)
	}
	if !bytes.Equal(got, payload) {
		t.Error("got different bytes back, want the payload")
	}
}

// TestMultiplexNoStall: the first request's handler blocks, writes nothing
// and leaves its body unread until the second request has completed.
func TestMultiplexNoStall(t *testing.T) {
	checkNoLeak(t)
	release := make(chan struct{})
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.Params["N"] == "1" {
			select {
			case <-release:
			case <-ctx.Done():
				return 99
			}
		}
		b, _ := io.ReadAll(req.Stdin)
		fmt.Fprintf(req.Stdout, "%s:%d", req.Params["N"], len(b))
		return 0
	}), nil)
	cl := h.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	type result struct {
		out string
		err error
	}
	first := make(chan result, 1)
	go func() {
		var out bytes.Buffer
		_, err := cl.Do(ctx, &ClientRequest{
			KeepConn: true,
			Params:   []Pair{{"N", "1"}},
			Stdin:    bytes.NewReader(make([]byte, 300<<10)), // under MaxBodyBuffer
		}, &out, nil)
		first <- result{out.String(), err}
	}()
	waitFor(t, "the first request to start", func() bool { return h.srv.Stats().Requests == 1 })
	var out bytes.Buffer
	if _, err := cl.Do(ctx, &ClientRequest{KeepConn: true, Params: []Pair{{"N", "2"}}, Stdin: strings.NewReader("abc")}, &out, nil); err != nil {
		t.Fatalf("second request: %v", err)
	}
	if out.String() != "2:3" {
		t.Errorf("second request: got %q, want %q", out.String(), "2:3")
	}
	close(release)
	r := recv(t, "the first request", first)
	if r.err != nil || r.out != fmt.Sprintf("1:%d", 300<<10) {
		t.Errorf("first request: got %q, %v, want %q, nil", r.out, r.err, fmt.Sprintf("1:%d", 300<<10))
	}
}

// TestEchoFullDuplex: a handler that writes each piece as it reads it gets a
// body far bigger than every buffer on the way, with a small MaxBodyBuffer.
func TestEchoFullDuplex(t *testing.T) {
	h := newHarness(t, "unix", echo, func(s *Server) { s.MaxBodyBuffer = 4096 })
	cl := h.client(t)
	body := make([]byte, 8<<20)
	for i := range body {
		body[i] = byte(i % 251)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	e, err := cl.Do(ctx, &ClientRequest{Stdin: bytes.NewReader(body)}, &out, nil)
	if err != nil || e != (EndRequest{}) {
		t.Fatalf("got %+v, %v, want {0 REQUEST_COMPLETE}, nil", e, err)
	}
	if !bytes.Equal(out.Bytes(), body) {
		t.Errorf("got %d bytes back, want the %d sent", out.Len(), len(body))
	}
}

func TestKeepConn(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	t.Run("on", func(t *testing.T) {
		c := h.raw(t)
		for i := range 3 {
			c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, []byte{'a' + byte(i)}, 0), rawRec(TypeStdin, 1, nil, 0))
			if r := c.responses(1)[1]; string(r.stdout) != string(rune('a'+i)) {
				t.Errorf("request %d: got %q, want %q", i, r.stdout, string(rune('a'+i)))
			}
		}
	})
	t.Run("off closes at once once the client is done", func(t *testing.T) {
		c := h.raw(t)
		c.send(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, []byte("x"), 0), rawRec(TypeStdin, 1, nil, 0))
		if r := c.responses(1)[1]; string(r.stdout) != "x" {
			t.Errorf("got %q, want \"x\"", r.stdout)
		}
		c.expectEOF()
		// No lingering: the server lets go while the client still holds
		// its end open, well before a linger would end.
		deadline := time.Now().Add(lingerTimeout / 2)
		for h.srv.Stats().Conns != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the connection still open after %s while the client holds it, want it closed at once", lingerTimeout/2)
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("off lingers while the client may still send", func(t *testing.T) {
		h.set(HandlerFunc(func(ctx context.Context, req *Request) uint32 { return 7 }))
		defer h.set(echo)
		c := h.raw(t)
		// STDIN never ends: the client may still be sending it.
		c.send(begin(1, RoleResponder, false))
		if r := c.responses(1)[1]; r.end.AppStatus != 7 {
			t.Errorf("got %+v, want appStatus 7", r.end)
		}
		c.expectEOF()
		// Half-closed, not closed: what we still send is read, not refused.
		if _, err := c.Write(rawRec(TypeStdin, 1, []byte("late"), 0)); err != nil {
			t.Errorf("write after the server's half-close: got %v, want nil", err)
		}
		if n := h.srv.Stats().Conns; n != 1 {
			t.Errorf("got %d connections while the client still sends, want 1", n)
		}
		c.Close()
		waitFor(t, "the connection to go", func() bool { return h.srv.Stats().Conns == 0 })
	})
	t.Run("off waits for the other requests", func(t *testing.T) {
		release := make(chan struct{})
		h.set(HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			if req.ID == 2 {
				<-release
			}
			return uint32(req.ID)
		}))
		defer func() { h.set(echo) }()
		c := h.raw(t)
		c.send(begin(2, RoleResponder, true), rawRec(TypeStdin, 2, nil, 0))
		waitFor(t, "request 2 to start", func() bool { return h.srv.Stats().Requests == 1 })
		c.send(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, nil, 0))
		if r := c.responses(1)[1]; r.end.AppStatus != 1 {
			t.Errorf("got %+v, want appStatus 1", r.end)
		}
		close(release)
		if r := c.responses(1)[2]; r.end.AppStatus != 2 {
			t.Errorf("got %+v, want appStatus 2", r.end)
		}
		c.expectEOF()
	})
}
