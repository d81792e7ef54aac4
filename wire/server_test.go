package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
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

func TestAbort(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		io.WriteString(req.Stdout, "started")
		<-ctx.Done()
		causes <- context.Cause(ctx)
		if _, err := req.Stdin.Read(make([]byte, 1)); !errors.Is(err, ErrAborted) {
			t.Errorf("Stdin.Read after abort: got %v, want %v", err, ErrAborted)
		}
		return 7
	}), nil)
	cl := h.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe() // a body that never ends
	defer pw.Close()
	out := &notifyWriter{ch: make(chan struct{}, 1)}
	go func() {
		recv(t, "output", out.ch)
		cancel()
	}()
	e, err := cl.Do(ctx, &ClientRequest{KeepConn: true, Stdin: pr}, out, nil)
	pw.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do: got %v, want %v", err, context.Canceled)
	}
	if e != (EndRequest{AppStatus: 7}) {
		t.Errorf("got %+v, want {7 REQUEST_COMPLETE}", e)
	}
	if c := recv(t, "cause", causes); c != ErrAborted {
		t.Errorf("got cause %v, want %v", c, ErrAborted)
	}
	// The connection is still good.
	var buf bytes.Buffer
	h.set(echo)
	if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Stdin: strings.NewReader("again")}, &buf, nil); err != nil || buf.String() != "again" {
		t.Errorf("after abort: got %q, %v, want \"again\", nil", buf.String(), err)
	}
}

// notifyWriter signals once its first Write arrived.
type notifyWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func TestAbortDuringParams(t *testing.T) {
	called := make(chan struct{}, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		called <- struct{}{}
		return 0
	}), nil)
	c := h.raw(t)
	c.send(AppendBeginRequest(nil, 1, RoleResponder, FlagKeepConn), rawRec(TypeParams, 1, rawPair("A", "b", false), 0),
		rawRec(TypeAbortRequest, 1, nil, 0))
	r := c.responses(1)[1]
	if r.end != (EndRequest{}) || len(r.stdout) != 0 {
		t.Errorf("got %+v, want only END_REQUEST {0 REQUEST_COMPLETE}", r)
	}
	// Stray PARAMS the client had in flight are dropped; the ID can be reused.
	h.set(echo)
	c.send(rawRec(TypeParams, 1, rawPair("C", "d", false), 0), begin(1, RoleResponder, true),
		rawRec(TypeStdin, 1, []byte("ok"), 0), rawRec(TypeStdin, 1, nil, 0))
	if r := c.responses(1)[1]; string(r.stdout) != "ok" {
		t.Errorf("reused ID: got %q, want \"ok\"", r.stdout)
	}
	select {
	case <-called:
		t.Error("got the aborted request handled, want it never started")
	default:
	}
	if w := h.log.lines("[WARN]"); len(w) != 0 {
		t.Errorf("got warnings %q, want none", w)
	}
}

func TestConnCloseCancels(t *testing.T) {
	checkNoLeak(t)
	started := make(chan struct{}, 2)
	causes := make(chan error, 2)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true), begin(2, RoleResponder, true))
	recv(t, "first handler", started)
	recv(t, "second handler", started)
	c.Close()
	for range 2 {
		if got := recv(t, "cause", causes); got != ErrConnClosed {
			t.Errorf("got cause %v, want %v", got, ErrConnClosed)
		}
	}
	waitFor(t, "stats to drop to zero", func() bool { return h.srv.Stats() == ServerStats{} })
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

func TestGetValues(t *testing.T) {
	tests := []struct {
		name     string
		maxConns int
		maxReqs  int
		ask      []string
		want     map[string]string
	}{
		{"all configured", 5, 20, []string{MaxConnsName, MaxReqsName, MpxsConnsName},
			map[string]string{MaxConnsName: "5", MaxReqsName: "20", MpxsConnsName: "1"}},
		{"unlimited", 0, 0, []string{MaxConnsName, MaxReqsName},
			map[string]string{MaxConnsName: "65535", MaxReqsName: "65535"}},
		{"only what was asked", 5, 20, []string{MpxsConnsName, "FCGI_UNKNOWN"},
			map[string]string{MpxsConnsName: "1"}},
		{"nothing", 5, 20, nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "unix", echo, func(s *Server) { s.MaxConns, s.MaxReqs = tt.maxConns, tt.maxReqs })
			got, err := h.client(t).GetValues(context.Background(), tt.ask...)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGetValuesBytes(t *testing.T) {
	h := newHarness(t, "unix", echo, func(s *Server) { s.MaxReqs = 3 })
	c := h.raw(t)
	c.send(rawRec(TypeGetValues, 0, rawPair(MaxReqsName, "", false), 1))
	want := rawPair(MaxReqsName, "3", false)
	want = AppendRecord(nil, TypeGetValuesResult, 0, want)
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got, want) {
		t.Errorf("got %x, %v, want %x", got, err, want)
	}
}

func TestUnknownType(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	c := h.raw(t)
	for _, typ := range []RecType{42, TypeGetValuesResult, TypeUnknownType, 0} {
		c.send(rawRec(typ, 0, []byte("whatever"), 0))
		rec := c.next()
		want := []byte{byte(typ), 0, 0, 0, 0, 0, 0, 0}
		if rec.Type != TypeUnknownType || rec.ID != 0 || !bytes.Equal(rec.Content, want) {
			t.Errorf("type %d: got %s id %d %x, want UNKNOWN_TYPE id 0 %x", typ, rec.Type, rec.ID, rec.Content, want)
		}
	}
}

func TestUnknownRole(t *testing.T) {
	h := newHarness(t, "unix", echo, nil)
	c := h.raw(t)
	c.send(begin(1, Role(9), true), rawRec(TypeStdin, 1, []byte("x"), 0), rawRec(TypeStdin, 1, nil, 0))
	if r := c.responses(1)[1]; r.end != (EndRequest{ProtocolStatus: StatusUnknownRole}) || len(r.stdout) != 0 {
		t.Errorf("got %+v, want only END_REQUEST {0 UNKNOWN_ROLE}", r)
	}
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, []byte("y"), 0), rawRec(TypeStdin, 1, nil, 0))
	if r := c.responses(1)[1]; string(r.stdout) != "y" {
		t.Errorf("after unknown role: got %q, want \"y\"", r.stdout)
	}
	if w := h.log.lines("[WARN]"); len(w) != 0 {
		t.Errorf("got warnings %q, want none", w)
	}
}

func TestMaxReqs(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		<-release
		return 0
	}), func(s *Server) { s.MaxReqs = 1 })
	c1, c2 := h.raw(t), h.raw(t)
	c1.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	waitFor(t, "the first request to start", func() bool { return h.srv.Stats().Requests == 1 })
	for _, c := range []*rawConn{c1, c2} {
		c.send(begin(2, RoleResponder, true), rawRec(TypeStdin, 2, []byte("x"), 0), rawRec(TypeStdin, 2, nil, 0))
		if r := c.responses(1)[2]; r.end != (EndRequest{ProtocolStatus: StatusOverloaded}) {
			t.Errorf("got %+v, want {0 OVERLOADED}", r.end)
		}
	}
	close(release)
	c1.responses(1)
	waitFor(t, "the first request to end", func() bool { return h.srv.Stats().Requests == 0 })
	c2.send(begin(2, RoleResponder, true), rawRec(TypeStdin, 2, nil, 0))
	if r := c2.responses(1)[2]; r.end != (EndRequest{}) {
		t.Errorf("after release: got %+v, want {0 REQUEST_COMPLETE}", r.end)
	}
}

func TestMaxConns(t *testing.T) {
	h := newHarness(t, "tcp", echo, func(s *Server) { s.MaxConns = 1 })
	cl := h.client(t)
	if _, err := cl.GetValues(context.Background(), MpxsConnsName); err != nil {
		t.Fatal(err)
	}
	c2 := h.raw(t)
	c2.expectEOF()
	if got := h.log.lines("too many connections"); len(got) != 1 || !strings.Contains(got[0], c2.LocalAddr().String()) {
		t.Errorf("got log %q, want one line naming %s", got, c2.LocalAddr())
	}
	if _, err := cl.GetValues(context.Background(), MpxsConnsName); err != nil {
		t.Errorf("first connection after the refusal: %v", err)
	}
}

func TestRoles(t *testing.T) {
	type seen struct {
		role        Role
		stdin, data string
		dataNil     bool
	}
	got := make(chan seen, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		s := seen{role: req.Role, dataNil: req.Data == nil}
		b, err := io.ReadAll(req.Stdin)
		if err != nil {
			t.Errorf("Stdin: %v", err)
		}
		s.stdin = string(b)
		if req.Data != nil {
			b, err := io.ReadAll(req.Data)
			if err != nil {
				t.Errorf("Data: %v", err)
			}
			s.data = string(b)
		}
		got <- s
		return 0
	}), nil)
	tests := []struct {
		name string
		role Role
		in   [][]byte
		want seen
	}{
		{"responder", RoleResponder, [][]byte{rawRec(TypeStdin, 1, []byte("body"), 0), rawRec(TypeStdin, 1, nil, 0)},
			seen{RoleResponder, "body", "", true}},
		{"authorizer ignores stdin", RoleAuthorizer, [][]byte{rawRec(TypeStdin, 1, []byte("stray"), 0), rawRec(TypeStdin, 1, nil, 0)},
			seen{RoleAuthorizer, "", "", true}},
		{"authorizer without stdin", RoleAuthorizer, nil, seen{RoleAuthorizer, "", "", true}},
		{"filter", RoleFilter, [][]byte{rawRec(TypeStdin, 1, []byte("in"), 0), rawRec(TypeStdin, 1, nil, 0),
			rawRec(TypeData, 1, []byte("file data"), 7), rawRec(TypeData, 1, nil, 0)},
			seen{RoleFilter, "in", "file data", false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.raw(t)
			c.send(append([][]byte{begin(1, tt.role, true)}, tt.in...)...)
			if s := recv(t, "handler", got); s != tt.want {
				t.Errorf("got %+v, want %+v", s, tt.want)
			}
			if r := c.responses(1)[1]; r.end != (EndRequest{}) {
				t.Errorf("got %+v, want {0 REQUEST_COMPLETE}", r.end)
			}
		})
	}
}

// TestStrayInputAfterEnd: a handler that answers before the body arrived;
// the rest of the body is dropped quietly and the ID is free again.
func TestStrayInputAfterEnd(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		io.WriteString(req.Stdout, "early")
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	if r := c.responses(1)[1]; string(r.stdout) != "early" {
		t.Fatalf("got %q, want \"early\"", r.stdout)
	}
	c.send(rawRec(TypeStdin, 1, bytes.Repeat([]byte("x"), 5000), 0), rawRec(TypeStdin, 1, nil, 0))
	// The entry is gone after the empty STDIN: a new BEGIN works, and more
	// STDIN for the new request reaches it.
	h.set(echo)
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, []byte("new"), 0), rawRec(TypeStdin, 1, nil, 0))
	if r := c.responses(1)[1]; string(r.stdout) != "new" {
		t.Errorf("got %q, want \"new\"", r.stdout)
	}
	if w := h.log.lines("[WARN]"); len(w) != 0 {
		t.Errorf("got warnings %q, want none", w)
	}
}

func TestMalformed(t *testing.T) {
	badVersion := rawRec(TypeStdin, 1, nil, 0)
	badVersion[0] = 0
	tests := []struct {
		name string
		in   []byte
		want string // in the log line
	}{
		{"bad version", badVersion, "unsupported protocol version 0"},
		{"record longer than the input", append(AppendBeginRequest(nil, 1, RoleResponder, 0), 1, byte(TypeParams), 0, 1, 0, 100, 0, 0, 'x'), "unexpected EOF"},
		{"params past the limit", bytes.Join([][]byte{AppendBeginRequest(nil, 1, RoleResponder, 0),
			rawRec(TypeParams, 1, make([]byte, 600), 0), rawRec(TypeParams, 1, make([]byte, 600), 0)}, nil), "exceed 1024 bytes"},
		{"malformed pairs", bytes.Join([][]byte{AppendBeginRequest(nil, 1, RoleResponder, 0),
			rawRec(TypeParams, 1, []byte{5, 5, 'A'}, 0), rawRec(TypeParams, 1, nil, 0)}, nil), "malformed name-value pairs"},
		{"BEGIN for an active ID", bytes.Join([][]byte{begin(1, RoleResponder, true), begin(1, RoleResponder, true)}, nil),
			"BEGIN_REQUEST for active request 1"},
		{"BEGIN of the wrong size", rawRec(TypeBeginRequest, 1, make([]byte, 7), 1), "not 8 bytes"},
		{"STDIN never begun", rawRec(TypeStdin, 3, []byte("x"), 0), "STDIN for request 3, which was never begun"},
		{"PARAMS never begun", rawRec(TypeParams, 3, nil, 0), "PARAMS for request 3, which was never begun"},
		{"DATA never begun", rawRec(TypeData, 3, nil, 0), "DATA for request 3, which was never begun"},
		{"STDIN before the end of PARAMS", bytes.Join([][]byte{AppendBeginRequest(nil, 1, RoleResponder, 0),
			rawRec(TypeStdin, 1, []byte("x"), 0)}, nil), "STDIN before the end of PARAMS"},
		{"PARAMS after their end", bytes.Join([][]byte{begin(1, RoleResponder, true), rawRec(TypeParams, 1, nil, 0)}, nil),
			"PARAMS after the end"},
		{"application record on ID 0", rawRec(TypeStdin, 0, nil, 0), "STDIN record on request ID 0"},
		{"BEGIN on ID 0", AppendBeginRequest(nil, 0, RoleResponder, 0), "BEGIN_REQUEST record on request ID 0"},
		{"response record from the client", rawRec(TypeStdout, 1, nil, 0), "unexpected STDOUT record for request 1"},
		{"DATA before the end of STDIN", bytes.Join([][]byte{begin(1, RoleFilter, true), rawRec(TypeData, 1, []byte("d"), 0)}, nil),
			"DATA before the end of STDIN of request 1"},
		{"malformed GET_VALUES", rawRec(TypeGetValues, 0, []byte{9}, 0), "GET_VALUES"},
		{"too many params", bytes.Join([][]byte{AppendBeginRequest(nil, 1, RoleResponder, 0),
			rawRec(TypeParams, 1, bytes.Repeat(rawPair("A", "", false), 65), 0), rawRec(TypeParams, 1, nil, 0)}, nil),
			"65 name-value pairs, more than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			causes := make(chan error, 1)
			h := newHarness(t, "tcp", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
				if req.Params["WAIT"] == "" {
					return echo(ctx, req)
				}
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return 0
			}), func(s *Server) { s.MaxParamsBytes = 1024; s.MaxParamCount = 64 })
			bad := h.raw(t)
			// A running request on the bad connection gets cancelled.
			bad.send(begin(9, RoleResponder, true, "WAIT", "1"))
			waitFor(t, "the waiting request", func() bool { return h.srv.Stats().Requests == 1 })
			good := h.client(t)
			bad.send(tt.in)
			if tcp, ok := bad.Conn.(interface{ CloseWrite() error }); ok && tt.name == "record longer than the input" {
				tcp.CloseWrite()
			}
			bad.expectEOF()
			if c := recv(t, "cause", causes); c != ErrConnClosed {
				t.Errorf("got cause %v, want %v", c, ErrConnClosed)
			}
			logs := h.log.lines("[WARN]")
			if len(logs) != 1 {
				t.Fatalf("got %d warnings %q, want 1", len(logs), logs)
			}
			if !strings.Contains(logs[0], tt.want) || !strings.Contains(logs[0], bad.LocalAddr().String()) {
				t.Errorf("got %q, want it to contain %q and %q", logs[0], tt.want, bad.LocalAddr())
			}
			var out bytes.Buffer
			if _, err := good.Do(context.Background(), &ClientRequest{Stdin: strings.NewReader("still here")}, &out, nil); err != nil || out.String() != "still here" {
				t.Errorf("other connection: got %q, %v, want \"still here\", nil", out.String(), err)
			}
		})
	}
}

// TestSlowlorisParamsTimeout: a client that dribbles its PARAMS one byte
// at a time is cut off ParamsTimeout after its BEGIN, with one log line,
// while another connection is served meanwhile.
func TestSlowlorisParamsTimeout(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "tcp", HandlerFunc(echo), func(s *Server) { s.ParamsTimeout = 300 * time.Millisecond })
	slow := h.raw(t)
	slow.send(AppendBeginRequest(nil, 1, RoleResponder, FlagKeepConn))
	params := rawRec(TypeParams, 1, rawPair("SLOW", strings.Repeat("x", 100), false), 0)
	// dribbling waits for the goroutine that sends one byte at a time.
	var dribbling sync.WaitGroup
	dribbling.Add(1)
	stop := make(chan struct{})
	go func() {
		defer dribbling.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for _, b := range params {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); dribbling.Wait() }()
	good := h.client(t)
	var out bytes.Buffer
	if _, err := good.Do(context.Background(), &ClientRequest{Stdin: strings.NewReader("served")}, &out, nil); err != nil || out.String() != "served" {
		t.Fatalf("other connection: got %q, %v, want \"served\", nil", out.String(), err)
	}
	slow.expectEOF()
	if got := h.log.lines("params not complete in time"); len(got) != 1 {
		t.Errorf("got log %q, want one line", got)
	}
}

// TestIdleTimeout: a connection with no request in progress is closed
// after IdleTimeout; one with a running request is not.
func TestIdleTimeout(t *testing.T) {
	checkNoLeak(t)
	release := make(chan struct{})
	h := newHarness(t, "tcp", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.Params["WAIT"] != "" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return 0
	}), func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	busy := h.raw(t)
	busy.send(begin(1, RoleResponder, true, "WAIT", "1"), rawRec(TypeStdin, 1, nil, 0))
	idle := h.raw(t)
	idle.expectEOF()
	// The busy one outlived the idle one's timeout and still completes.
	close(release)
	resp := busy.responses(1)
	if resp[1] == nil || resp[1].end.ProtocolStatus != StatusRequestComplete {
		t.Fatalf("busy connection: got %+v, want its request completed", resp[1])
	}
}

// TestIdleTimeoutAfterKeepConnRequest: the read loop armed the idle
// deadline only before it waited for the next record; a request that came
// in one write was still running then, and nothing armed it once the
// request finished, so the idle connection stayed open for ever.
func TestIdleTimeoutAfterKeepConnRequest(t *testing.T) {
	checkNoLeak(t)
	const idle = 200 * time.Millisecond
	stdinRead, release := make(chan struct{}), make(chan struct{})
	logs := &syncBuffer{}
	srv := &Server{
		Handler: HandlerFunc(func(ctx context.Context, req *Request) uint32 {
			io.Copy(io.Discard, req.Stdin)
			close(stdinRead)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return 0
		}),
		IdleTimeout: idle,
		Logger:      hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	}
	cc, sc := connPair(t)
	watched := &readWatchConn{Conn: sc}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), watched)
	}()
	t.Cleanup(func() {
		srv.Close()
		recv(t, "ServeConn to return", served)
	})
	c := &rawConn{t: t, Conn: cc, br: bufio.NewReader(cc)}
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	recv(t, "the handler to read its stdin", stdinRead)
	// Every byte sent is read: a Read in progress waits for the next record.
	waitFor(t, "the read loop to wait for the next record", func() bool { return watched.reading.Load() == 1 })
	close(release)
	if r := c.responses(1)[1]; r.end != (EndRequest{}) {
		t.Fatalf("got %+v, want {0 REQUEST_COMPLETE}", r.end)
	}
	c.expectEOFWithin(idle + 5*time.Second)
	if got := logs.lines("idle connection closed"); len(got) != 1 {
		t.Errorf("got log %q, want one idle line", got)
	}
}

func TestWriteTimeout(t *testing.T) {
	causes := make(chan error, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := req.Stdout.Write(chunk); err != nil {
				break
			}
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return 0
	}), func(s *Server) { s.WriteTimeout = 50 * time.Millisecond })
	c := h.raw(t) // never reads
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	cause := recv(t, "cause", causes)
	var ne interface{ Timeout() bool }
	if !errors.As(cause, &ne) || !ne.Timeout() {
		t.Errorf("got cause %v, want a write timeout", cause)
	}
	if got := h.log.lines("client stopped reading"); len(got) != 1 {
		t.Errorf("got log %q, want one line", got)
	}
}

func TestBackPressure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newInStream(ctx, 12, false)
	connDone := make(chan struct{})
	if !s.push(connDone, nil, []byte("0123456789abcdef")) {
		t.Fatal("push to an empty queue: got false, want true")
	}
	pushed := make(chan bool, 1)
	go func() { pushed <- s.push(connDone, nil, []byte("xyz")) }()
	select {
	case <-pushed:
		t.Fatal("push past the limit returned before any read, want it to wait")
	case <-time.After(20 * time.Millisecond):
	}
	buf := make([]byte, 8)
	if n, err := s.Read(buf); n != 8 || err != nil {
		t.Fatalf("got %d, %v, want 8, nil", n, err)
	}
	if !recv(t, "push", pushed) {
		t.Error("push: got false, want true")
	}
	s.push(connDone, nil, nil)
	rest, err := io.ReadAll(s)
	if string(rest) != "89abcdefxyz" || err != nil {
		t.Errorf("got %q, %v, want \"89abcdefxyz\", nil", rest, err)
	}

	// A full queue and a dying connection: push gives up.
	s = newInStream(ctx, 1, false)
	s.push(connDone, nil, []byte("ab"))
	go func() { pushed <- s.push(connDone, nil, []byte("c")) }()
	close(connDone)
	if recv(t, "push", pushed) {
		t.Error("push on a dead connection: got true, want false")
	}
	// A cancelled request: Read fails with the cause, queued data or not.
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	s = newInStream(ctx2, 100, false)
	s.push(nil, nil, []byte("data"))
	cancel2(ErrAborted)
	if _, err := s.Read(buf); err != ErrAborted {
		t.Errorf("Read after cancel: got %v, want %v", err, ErrAborted)
	}
}

func TestShutdown(t *testing.T) {
	checkNoLeak(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		started <- struct{}{}
		<-release
		io.WriteString(req.Stdout, "done")
		return 0
	}), nil)
	idle := h.raw(t)
	idle.send(rawRec(TypeGetValues, 0, nil, 0))
	idle.next()
	busy := h.raw(t)
	busy.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	recv(t, "handler", started)
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(context.Background()) }()
	idle.expectEOF()
	if err := recv(t, "Serve", h.errc); err != ErrServerClosed {
		t.Errorf("Serve: got %v, want %v", err, ErrServerClosed)
	}
	h.errc <- ErrServerClosed // for the cleanup
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request active, want it to wait", err)
	default:
	}
	close(release)
	if r := busy.responses(1)[1]; string(r.stdout) != "done" {
		t.Errorf("got %q, want \"done\"", r.stdout)
	}
	busy.expectEOF()
	idle.Close() // ends the lingering closes at once
	busy.Close()
	if err := recv(t, "Shutdown", shut); err != nil {
		t.Errorf("Shutdown: got %v, want nil", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	h := newHarness(t, "unix", blockUntilCancelled(causes), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true))
	waitFor(t, "the request", func() bool { return h.srv.Stats().Requests == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.srv.Shutdown(ctx); err != context.Canceled {
		t.Errorf("Shutdown: got %v, want %v", err, context.Canceled)
	}
	if c := recv(t, "cause", causes); c != ErrServerClosed {
		t.Errorf("got cause %v, want %v", c, ErrServerClosed)
	}
	if s := h.srv.Stats(); s != (ServerStats{}) {
		t.Errorf("got %+v after Shutdown, want zero", s)
	}
}

func TestServeContextCloses(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	srv := &Server{Handler: blockUntilCancelled(causes)}
	h := newHarness(t, "unix", nil, nil)
	h.srv.Close()
	recv(t, "Serve", h.errc)
	h.errc <- ErrServerClosed

	ln := listenUnix(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	c := (&harness{net: "unix", addr: ln.Addr().String()}).raw(t)
	c.send(begin(1, RoleResponder, true))
	waitFor(t, "the request", func() bool { return srv.Stats().Requests == 1 })
	cancel()
	if err := recv(t, "Serve", errc); err != ErrServerClosed {
		t.Errorf("Serve: got %v, want %v", err, ErrServerClosed)
	}
	if c := recv(t, "cause", causes); c != ErrServerClosed {
		t.Errorf("got cause %v, want %v", c, ErrServerClosed)
	}
	c.expectEOF()
	if err := srv.Serve(context.Background(), listenUnix(t)); err != ErrServerClosed {
		t.Errorf("Serve after Close: got %v, want %v", err, ErrServerClosed)
	}
}

func TestCloseNoLeak(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		if req.Params["BLOCK"] != "" {
			<-ctx.Done()
			return 0
		}
		return echo(ctx, req)
	}), nil)
	var clients []*Client
	for range 3 {
		cl := h.client(t)
		clients = append(clients, cl)
		var out bytes.Buffer
		if _, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Stdin: strings.NewReader("x")}, &out, nil); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 3)
	for _, cl := range clients {
		go func() {
			_, err := cl.Do(context.Background(), &ClientRequest{KeepConn: true, Params: []Pair{{"BLOCK", "1"}}}, nil, nil)
			errs <- err
		}()
	}
	waitFor(t, "3 blocked requests", func() bool { return h.srv.Stats().Requests == 3 })
	h.srv.Close()
	for range 3 {
		if err := recv(t, "Do", errs); err == nil {
			t.Error("Do on a closed server: got nil error, want one")
		}
	}
	if s := h.srv.Stats(); s != (ServerStats{}) {
		t.Errorf("got %+v after Close, want zero", s)
	}
}

// TestHangupWhileStalled: the read loop is stalled by a handler that does not
// read its body; the client closing the connection still cancels it.
func TestHangupWhileStalled(t *testing.T) {
	checkNoLeak(t)
	causes := make(chan error, 1)
	h := newHarness(t, "unix", blockUntilCancelled(causes), func(s *Server) { s.MaxBodyBuffer = 1000 })
	c := h.raw(t)
	chunk := make([]byte, 1000)
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, chunk, 0), rawRec(TypeStdin, 1, chunk, 0), rawRec(TypeStdin, 1, chunk, 0))
	waitFor(t, "the request", func() bool { return h.srv.Stats().Requests == 1 })
	c.Close()
	if got := recv(t, "cause", causes); got != ErrConnClosed {
		t.Errorf("got cause %v, want %v", got, ErrConnClosed)
	}
	waitFor(t, "the connection to go", func() bool { return h.srv.Stats() == ServerStats{} })
}

func TestWriteAfterReturn(t *testing.T) {
	leaked := make(chan *Request, 1)
	h := newHarness(t, "unix", HandlerFunc(func(ctx context.Context, req *Request) uint32 {
		leaked <- req
		return 0
	}), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, false), rawRec(TypeStdin, 1, nil, 0))
	c.responses(1)
	req := recv(t, "request", leaked)
	for _, w := range []io.Writer{req.Stdout, req.Stderr} {
		if _, err := w.Write([]byte("late")); err != errStreamClosed {
			t.Errorf("got %v, want %v", err, errStreamClosed)
		}
	}
	c.expectEOF()
}

// TestShutdownClosesIdleKeepAliveAtOnce: a keep-alive client that never
// closes its idle connection (h2o, nginx's upstream keepalive) must not
// hold Shutdown for the linger time.
func TestShutdownClosesIdleKeepAliveAtOnce(t *testing.T) {
	h := newHarness(t, "unix", HandlerFunc(echo), nil)
	c := h.raw(t)
	c.send(begin(1, RoleResponder, true), rawRec(TypeStdin, 1, nil, 0))
	if resp := c.responses(1); resp[1] == nil {
		t.Fatal("no answer to the first request")
	}
	ctx, cancel := context.WithTimeout(context.Background(), lingerTimeout/2)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("got %v from Shutdown with an idle keep-alive connection open, want nil within %s", err, lingerTimeout/2)
	}
	c.expectEOF()
}
