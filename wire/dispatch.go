package wire

import (
	"context"
	"strconv"
	"time"
)

// dispatch hands one record to the handler of its type: the read loop's
// side of a request's life, from BEGIN_REQUEST to the end of its input.
func (c *conn) dispatch(rec Record) error {
	c.mu.Lock()
	draining := c.draining
	c.mu.Unlock()
	if draining {
		return errDrain
	}
	if rec.ID == 0 {
		return c.management(rec)
	}
	switch rec.Type {
	case TypeBeginRequest:
		return c.begin(rec)
	case TypeAbortRequest:
		return c.abortRequest(rec.ID)
	case TypeParams:
		return c.params(rec)
	case TypeStdin, TypeData:
		return c.input(rec)
	}
	return malformed("unexpected %s record for request %d", rec.Type, rec.ID)
}

func (c *conn) management(rec Record) error {
	if !rec.Type.isManagement() {
		return malformed("%s record on request ID 0", rec.Type)
	}
	if rec.Type != TypeGetValues {
		c.writeBytes(AppendUnknownType(nil, rec.Type))
		return nil
	}
	var reply []byte
	err := eachPair(string(rec.Content), func(name, _ string) {
		var v int
		switch name {
		case MaxConnsName:
			v = c.srv.MaxConns
		case MaxReqsName:
			v = c.srv.MaxReqs
		case MpxsConnsName:
			v = 1
		default:
			return
		}
		if v <= 0 {
			// Unlimited; request IDs are 16 bits, so this is as good as any.
			v = 65535
		}
		reply = AppendPair(reply, name, strconv.Itoa(v))
	})
	if err != nil {
		return malformed("GET_VALUES: %v", err)
	}
	if len(reply) > MaxContent {
		// Only a client asking for the same names thousands of times gets here.
		return malformed("GET_VALUES asks for too much")
	}
	c.writeBytes(AppendRecord(nil, TypeGetValuesResult, 0, reply))
	return nil
}

func (c *conn) begin(rec Record) error {
	role, flags, err := ParseBeginRequest(rec.Content)
	if err != nil {
		return malformed("request %d: %v", rec.ID, err)
	}
	id, keepConn := rec.ID, flags&FlagKeepConn != 0
	c.mu.Lock()
	if old := c.reqs[id]; old != nil && old.state != reqFinished {
		c.mu.Unlock()
		return malformed("BEGIN_REQUEST for active request %d", id)
	}
	var status ProtocolStatus
	switch {
	case role < RoleResponder || role > RoleFilter:
		status = StatusUnknownRole
	case c.srv.shuttingDown.Load() || !c.srv.acquireReq():
		status = StatusOverloaded
	default:
		c.reqs[id] = c.newRequest(id, role, keepConn)
		c.active++
		c.mu.Unlock()
		return nil
	}
	// Rejected: remember the ID so the PARAMS and STDIN the client already
	// sent are dropped quietly.
	c.reqs[id] = &request{id: id, role: role, keepConn: keepConn, state: reqFinished}
	drain := c.endedLocked(keepConn)
	c.mu.Unlock()
	c.writeBytes(AppendEndRequest(nil, id, EndRequest{ProtocolStatus: status}))
	if drain {
		c.lingerClose()
	}
	return nil
}

// newRequest makes a request; c.mu is held, so that either abort, which
// cancels c.ctx before it takes c.mu, finds the request in c.reqs, or the
// request finds c.ctx cancelled.
func (c *conn) newRequest(id uint16, role Role, keepConn bool) *request {
	r := &request{id: id, role: role, keepConn: keepConn, begun: time.Now()}
	r.ctx, r.cancel = context.WithCancelCause(c.base)
	if c.ctx.Err() != nil {
		r.cancel(context.Cause(c.ctx))
	}
	limit := c.srv.maxBodyBuffer()
	r.stdin.init(r.ctx, limit, role == RoleAuthorizer)
	r.stdin.spliceable = c.raw != nil
	if role == RoleFilter {
		r.data = newInStream(r.ctx, limit, false)
	}
	r.stdout.init(c, r, TypeStdout)
	r.stderr.init(c, r, TypeStderr)
	return r
}

// endedLocked records that a request without an active handler has got (or
// is about to get) its END_REQUEST, and reports whether the connection
// should now close. It sets draining in that case, so no new request starts.
func (c *conn) endedLocked(keepConn bool) bool {
	if !keepConn {
		c.closeWhenIdle = true
	}
	if c.active == 0 && !c.draining && (c.closeWhenIdle || c.srv.shuttingDown.Load()) {
		c.draining = true
		c.lingerUntil = time.Now().Add(lingerTimeout)
		return true
	}
	return false
}

func (c *conn) abortRequest(id uint16) error {
	c.mu.Lock()
	r := c.reqs[id]
	if r == nil || r.state == reqFinished {
		// The abort crossed our END_REQUEST.
		c.mu.Unlock()
		return nil
	}
	if r.state == reqRunning {
		c.mu.Unlock()
		r.cancel(ErrAborted)
		return nil
	}
	// No handler yet: the request ends here.
	r.params.Reset()
	r.state = reqFinished
	r.cancel(ErrAborted)
	c.active--
	c.srv.releaseReq()
	drain := c.endedLocked(r.keepConn)
	c.mu.Unlock()
	c.writeBytes(AppendEndRequest(nil, id, EndRequest{ProtocolStatus: StatusRequestComplete}))
	if drain {
		c.lingerClose()
	}
	return nil
}

func (c *conn) params(rec Record) error {
	c.mu.Lock()
	r := c.reqs[rec.ID]
	var state reqState
	if r != nil {
		state = r.state
	}
	c.mu.Unlock()
	switch {
	case r == nil:
		return malformed("PARAMS for request %d, which was never begun", rec.ID)
	case state == reqFinished:
		return nil
	case state == reqRunning:
		return malformed("PARAMS after the end of the PARAMS stream of request %d", rec.ID)
	}
	if len(rec.Content) > 0 {
		if max := c.srv.maxParamsBytes(); r.params.Len()+len(rec.Content) > max {
			return malformed("PARAMS of request %d exceed %d bytes", rec.ID, max)
		}
		r.params.Write(rec.Content)
		return nil
	}
	maxCount := c.srv.maxParamCount()
	params, count, err := pairsMap(r.params.String(), maxCount)
	if err != nil {
		return malformed("PARAMS of request %d: %v", rec.ID, err)
	}
	if count > maxCount {
		return malformed("PARAMS of request %d: %d name-value pairs, more than %d", rec.ID, count, maxCount)
	}
	r.params.Reset()
	req := &r.req
	*req = Request{
		ID:         r.id,
		Role:       r.role,
		KeepConn:   r.keepConn,
		Params:     params,
		Stdin:      &r.stdin,
		Stdout:     &r.stdout,
		Stderr:     &r.stderr,
		LocalAddr:  c.rwc.LocalAddr(),
		RemoteAddr: c.rwc.RemoteAddr(),
	}
	if r.data != nil {
		req.Data = r.data
	}
	c.mu.Lock()
	r.state = reqRunning
	c.mu.Unlock()
	c.handlers.Add(1)
	c.srv.handlerWorkers.run(func() { c.run(r) })
	return nil
}

func (c *conn) input(rec Record) error {
	c.mu.Lock()
	r := c.reqs[rec.ID]
	if r == nil {
		c.mu.Unlock()
		return malformed("%s for request %d, which was never begun", rec.Type, rec.ID)
	}
	if r.state == reqParams {
		c.mu.Unlock()
		return malformed("%s before the end of PARAMS of request %d", rec.Type, rec.ID)
	}
	s := &r.stdin
	if rec.Type == TypeData {
		s = r.data
	}
	if len(rec.Content) == 0 {
		if rec.Type == TypeStdin {
			r.stdinDone = true
		} else {
			r.dataDone = true
		}
	}
	if r.state == reqFinished {
		if r.inputDone() {
			delete(c.reqs, rec.ID)
		}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if s == nil {
		// DATA for a role that has no DATA stream.
		return nil
	}
	if rec.Type == TypeData && !r.stdinDone {
		// Pushing DATA while the handler waits for the end of STDIN could
		// wedge the read loop.
		return malformed("DATA before the end of STDIN of request %d", rec.ID)
	}
	if !s.push(c.ctx.Done(), c.stall, rec.Content) {
		return context.Cause(c.ctx)
	}
	return nil
}
