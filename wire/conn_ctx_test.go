package wire

import (
	"context"
	"errors"
	"testing"
)

type ctxKey struct{}

// TestRequestContextEndsWithConn: a request's context is not a child of
// its connection's, so abort cancels it, with the connection's cause (the
// first abort's), and a request begun after the abort starts cancelled.
// Values of the context Serve got reach every request.
func TestRequestContextEndsWithConn(t *testing.T) {
	_, sc := connPair(t)
	base := context.WithValue(context.Background(), ctxKey{}, "v")
	c := newConn(base, &Server{}, sc)
	c.mu.Lock()
	before := c.newRequest(1, RoleResponder, true)
	c.reqs[1] = before
	c.mu.Unlock()
	if before.ctx.Err() != nil {
		t.Fatalf("got %v before abort, want a live context", context.Cause(before.ctx))
	}

	writeErr := errors.New("write failed")
	c.abort(writeErr)
	c.abort(ErrConnClosed)
	c.mu.Lock()
	after := c.newRequest(2, RoleResponder, true)
	c.mu.Unlock()
	for _, r := range []*request{before, after} {
		if got := context.Cause(r.ctx); got != writeErr {
			t.Errorf("request %d: got cause %v, want %v", r.id, got, writeErr)
		}
		if got := r.ctx.Value(ctxKey{}); got != "v" {
			t.Errorf("request %d: got value %v, want v", r.id, got)
		}
	}
}
