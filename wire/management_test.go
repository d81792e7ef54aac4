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
			if tcp, ok := bad.Conn.(HalfCloser); ok && tt.name == "record longer than the input" {
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
