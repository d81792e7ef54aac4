package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// Causes with which a running script's context is cancelled; each decides
// what the client sees if the head was not sent yet, and what the log says.
var (
	errTimeout       = errors.New("request took longer than --timeout")
	errHeaderTimeout = errors.New("no response head within --header-timeout")
	errBadHead       = errors.New("script wrote an invalid response head")
	errBodyTooLarge  = errors.New("request body larger than allowed")
	errBodyExcess    = errors.New("request body longer than CONTENT_LENGTH")
)

// outputChunk is how much script output is read, and so sent as records
// in one writev, at a time. PERF-NOTES: 64 KiB reads with one write per
// read's records ran near raw pipe speed.
const outputChunk = 64 << 10

var outputBuffers = sync.Pool{New: func() any { b := make([]byte, outputChunk); return &b }}

// bodyChunk is how much request body is taken from the connection and
// written to the script's stdin at once: several records per pipe write.
const bodyChunk = 256 << 10

var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, bodyChunk); return &b }}

// bigBody is the declared body size past which the script's stdin pipe
// is enlarged (PERF-NOTES: a 1 MiB pipe roughly doubled streaming).
const bigBody = 64 << 10

// handler joins the packages: wire hands it a request, cgienv says which
// script and with what environment, pool says when, spawner runs it.
type handler struct {
	settings atomic.Pointer[settings]
	pool     *pool.Pool
	log      hclog.Logger
	seq      atomic.Uint64 // log id per request: FastCGI IDs repeat (nginx always uses 1)
	observer requestObserver
	// serverStats reads the FastCGI server's live counts for the status page.
	serverStats func() wire.ServerStats
	// guard, if set, learns each script's process group so that it can
	// kill them should fcgi-wrap die without cleaning up.
	guard *groupGuard
}

// requestObserver learns how each request ended (access log, metrics).
type requestObserver interface {
	observe(*requestRecord)
}

type requestRecord struct {
	start       time.Time
	remote      string
	user        string
	protocol    string
	method, uri string
	script      string
	status      int
	bytesIn     int64
	bytesOut    int64
	duration    time.Duration
	queueWait   time.Duration
	queued      bool // waited for a slot at all (spawn never started for refusals)
	spawnTime   time.Duration
	pid         atomic.Int64 // set once the script starts; read by the slow-request timer
	exitCode    int          // -1: none
	outcome     string
}

func newHandler(s *settings, p *pool.Pool, log hclog.Logger) *handler {
	h := &handler{pool: p, log: log}
	h.settings.Store(s)
	return h
}

func (h *handler) ServeFCGI(ctx context.Context, req *wire.Request) uint32 {
	s := h.settings.Load()
	rec := &requestRecord{
		start:    time.Now(),
		remote:   req.Params["REMOTE_ADDR"],
		user:     req.Params["REMOTE_USER"],
		protocol: req.Params["SERVER_PROTOCOL"],
		method:   req.Params["REQUEST_METHOD"],
		uri:      requestURI(req.Params),
		exitCode: -1,
		outcome:  "internal",
	}
	log := h.log.With("req", h.seq.Add(1))
	out := &countingWriter{w: req.Stdout}
	defer func() {
		rec.duration = time.Since(rec.start)
		rec.bytesOut = out.n
		if h.observer != nil {
			h.observer.observe(rec)
		}
	}()

	if roleAllowsPages(req.Role) {
		switch {
		case isSpecialPath(req.Params, s.pingPath):
			rec.outcome = "ok"
			h.writePing(out, rec)
			return 0
		case isSpecialPath(req.Params, s.statusPath):
			rec.outcome = "ok"
			h.writeStatus(out, rec, req.Params["QUERY_STRING"])
			return 0
		}
	}

	script, err := cgienv.Resolve(req.Params, s.resolve)
	if err != nil {
		status := 500
		var refused *cgienv.Error
		if errors.As(err, &refused) {
			status = refused.Status
			log.Warn("script refused", "status", status, "reason", refused.Reason, "uri", rec.uri)
		} else {
			log.Error("script resolution failed", "error", err, "uri", rec.uri)
		}
		rec.outcome = "refused"
		h.writeError(out, rec, status)
		return 0
	}
	rec.script = script.Path
	log = log.With("script", script.Path)

	if s.maxBody > 0 {
		if n, err := strconv.ParseInt(req.Params["CONTENT_LENGTH"], 10, 64); err == nil && n > s.maxBody {
			log.Warn("request body too large", "content_length", n, "max_body", s.maxBody)
			rec.outcome = "refused"
			h.writeError(out, rec, 413)
			return 0
		}
	}

	if log.IsDebug() {
		// A snapshot copies the running list: only worth it when shown.
		if snap := h.pool.Snapshot(); snap.Active >= snap.Workers {
			log.Debug("all workers busy; queued", "active", snap.Active, "queued", snap.Queued)
		}
	}
	slot, err := h.pool.Acquire(ctx, pool.JobInfo{Script: script.Path, Method: rec.method, URI: rec.uri, Remote: rec.remote})
	if err != nil {
		if ctx.Err() != nil {
			rec.outcome = "aborted"
			log.Debug("request ended while queued", "cause", context.Cause(ctx))
			return 0
		}
		log.Warn("request rejected", "reason", err, "uri", rec.uri)
		rec.outcome = "overloaded"
		h.writeError(out, rec, 503, cgienv.Field{Name: "Retry-After", Value: "1"})
		return 0
	}
	rec.queueWait = slot.Waited()
	rec.queued = true
	if s.slowAfter > 0 {
		slow := time.AfterFunc(s.slowAfter, func() {
			log.Warn("slow request", "pid", rec.pid.Load(), "uri", rec.uri, "elapsed", time.Since(rec.start).Round(time.Millisecond))
		})
		defer slow.Stop()
	}
	r := &run{h: h, s: s, req: req, script: script, log: log, rec: rec, out: out}
	outcome := r.execute(ctx, slot)
	slot.Release(outcome)
	rec.outcome = outcome.String()
	if rec.exitCode >= 0 {
		return uint32(rec.exitCode)
	}
	return 0
}

func (h *handler) writeError(out *countingWriter, rec *requestRecord, status int, extra ...cgienv.Field) {
	rec.status = status
	out.Write(cgienv.AppendError(nil, status, extra...))
}

// requestURI is what the access log and status page show; servers that do
// not send REQUEST_URI still send SCRIPT_NAME and QUERY_STRING.
func requestURI(params map[string]string) string {
	if uri := params["REQUEST_URI"]; uri != "" {
		return uri
	}
	uri := params["SCRIPT_NAME"] + params["PATH_INFO"]
	if q := params["QUERY_STRING"]; q != "" {
		uri += "?" + q
	}
	return uri
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Delay is Write for output that may wait up to d to leave with what
// follows it, where the stream can (wire's output streams).
func (c *countingWriter) Delay(p []byte, d time.Duration) (int, error) {
	dw, ok := c.w.(interface {
		Delay([]byte, time.Duration) (int, error)
	})
	if !ok {
		return c.Write(p)
	}
	n, err := dw.Delay(p, d)
	c.n += int64(n)
	return n, err
}

// run is one script execution: its process, the goroutines that feed it
// and read it, and what the client has been sent so far.
type run struct {
	h      *handler
	s      *settings
	req    *wire.Request
	script cgienv.Script
	log    hclog.Logger
	rec    *requestRecord
	out    *countingWriter

	cancel context.CancelCauseFunc

	// outMu serialises writes to the client between the output loop and
	// the body feeder, which releases held output when the body is in.
	outMu    sync.Mutex
	headSent bool   // the head was parsed: it is sent, or held below
	bodyIn   bool   // the whole request body has arrived (or nobody reads it)
	held     []byte // output kept back while the body still arrives
	holding  bool

	// headerTimer enforces --header-timeout. Body bytes reaching the
	// script restart it: a slow upload is not a slow script, while one
	// that stops reading its body is held to the limit.
	headerTimer *time.Timer
}

func (r *run) headerTimedOut() {
	r.outMu.Lock()
	sent := r.headSent
	r.outMu.Unlock()
	if !sent {
		r.cancel(errHeaderTimeout)
	}
}

func (r *run) bodyProgress() {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	if !r.headSent && r.headerTimer != nil {
		r.headerTimer.Reset(r.s.headerTimeout)
	}
}

// heldOutputMax bounds the output kept back while the request body still
// arrives. nginx stops sending the body once it has a response head (it
// treats it as an early response), so a script that answers before it has
// read its body (git-http-backend's receive-pack does) would never get the
// rest. Holding the head until the body is in fixes that; a script that
// writes more than this before the body is complete is streaming full
// duplex, which only clients that keep sending (HAProxy, our own) support,
// so from there on output flows as it comes.
const heldOutputMax = 1 << 20

func (r *run) execute(ctx context.Context, slot *pool.Slot) pool.Outcome {
	env, dropped := cgienv.Environ(r.req.Params, r.script, r.req.Role.String(), r.s.env)
	if len(dropped) > 0 {
		r.log.Debug("params not passed to the script", "params", dropped)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel

	stdinPipe := 0
	if n, err := strconv.ParseInt(r.req.Params["CONTENT_LENGTH"], 10, 64); err == nil && n > bigBody {
		stdinPipe = 1 << 20
	}
	// A request whose body has already ended empty (every GET) needs no
	// stdin pipe and no goroutine to feed it: the script reads /dev/null.
	noBody := atEOF(r.req.Stdin)
	spawnStart := time.Now()
	proc, err := spawner.Start(runCtx, spawner.Config{
		Path:          r.script.Path,
		Env:           env,
		Dir:           r.script.Dir,
		Data:          r.req.Role == wire.RoleFilter,
		Rlimits:       r.s.rlimits,
		KillGrace:     r.s.killGrace,
		StdinPipeSize: stdinPipe,
		NoStdin:       noBody,
		TimerSlack:    scriptTimerSlack,
	})
	if err != nil {
		status := 500
		if errors.Is(err, syscall.EACCES) {
			status = 403
		}
		r.log.Error("spawn failed", "error", err, "errno", errnoName(err))
		r.h.writeError(r.out, r.rec, status)
		return pool.SpawnFailed
	}
	r.rec.spawnTime = time.Since(spawnStart)
	defer proc.Close()
	if r.h.guard != nil {
		r.h.guard.add(proc.Pid())
		// Registered after the last kill below: by then the group is gone.
		defer r.h.guard.remove(proc.Pid())
	}
	r.rec.pid.Store(int64(proc.Pid()))
	slot.SetPID(proc.Pid())

	if r.s.timeout > 0 {
		t := time.AfterFunc(r.s.timeout, func() { cancel(errTimeout) })
		defer t.Stop()
	}
	if r.s.headerTimeout > 0 {
		r.headerTimer = time.AfterFunc(r.s.headerTimeout, r.headerTimedOut)
		defer r.headerTimer.Stop()
	}

	// feeders waits for the goroutines that write the body and the FILTER
	// data to the script and read its stderr.
	var feeders sync.WaitGroup
	var bodyBytes atomic.Int64
	if noBody {
		r.bodyComplete()
	} else {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			r.feedBody(proc.Stdin(), &bodyBytes)
		}()
	}
	feeders.Add(1)
	go func() {
		defer feeders.Done()
		r.forwardStderr(proc.Stderr())
	}()
	if data := proc.Data(); data != nil {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			r.feedData(data)
		}()
	}

	// The watcher turns "the script is gone" and "we gave up on it" into
	// read deadlines on its stdout, so the read loop below can never block
	// for good: not on a background child that keeps the pipe open after
	// the script exited (--exit-drain), nor on one that escaped the process
	// group when we kill it.
	var exited atomic.Bool
	watcherDone := make(chan struct{})
	stopWatcher := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-proc.Done():
			exited.Store(true)
			proc.Stdout().SetReadDeadline(time.Now().Add(r.s.exitDrain))
		case <-runCtx.Done():
			proc.Stdout().SetReadDeadline(time.Now().Add(r.s.killGrace + time.Second))
		case <-stopWatcher:
		}
	}()

	drained := r.copyOutput(proc.Stdout(), &exited)
	r.releaseHeld()
	close(stopWatcher)
	<-watcherDone
	if drained {
		r.log.Warn("script exited but its background processes kept stdout open; killed them", "exit_drain", r.s.exitDrain)
		proc.KillNow()
	}

	// Output is over; the response cannot end before the script does, as
	// END_REQUEST carries its exit status. A script that closed stdout but
	// lingers is still bounded by --timeout and by the client going away.
	select {
	case <-proc.Done():
	case <-runCtx.Done():
		<-proc.Done()
	}
	exit := proc.Exit()
	r.rec.exitCode = int(exit.AppStatus())
	// Whatever is left of its process group (a `cmd &` that closed its
	// stdout) goes with it: no process outlives its request.
	proc.KillNow()
	if stdin := proc.Stdin(); stdin != nil {
		stdin.Close()
	}
	r.unblockBody()
	feeders.Wait()
	r.rec.bytesIn = bodyBytes.Load()

	cause := context.Cause(runCtx)
	if ctx.Err() != nil {
		// The web server went away or aborted: nobody to answer.
		r.log.Info("request cancelled; script killed", "cause", context.Cause(ctx), "pid", proc.Pid())
		return pool.Aborted
	}
	outcome := pool.OK
	switch {
	case errors.Is(cause, errTimeout) || errors.Is(cause, errHeaderTimeout):
		outcome = pool.Timeout
		if !r.headSent {
			r.log.Warn("script timed out before its response head; killed", "cause", cause, "pid", proc.Pid())
			r.h.writeError(r.out, r.rec, 504)
		} else {
			r.log.Warn("script timed out; response cut short", "cause", cause, "pid", proc.Pid())
		}
	case errors.Is(cause, errBodyTooLarge) || errors.Is(cause, errBodyExcess):
		outcome = pool.Failed
		r.log.Warn("request body refused; script killed", "cause", cause, "pid", proc.Pid())
		if !r.headSent {
			r.h.writeError(r.out, r.rec, 413)
		}
	case errors.Is(cause, errBadHead):
		outcome = pool.Failed
		r.h.writeError(r.out, r.rec, 502)
	case !r.headSent:
		outcome = pool.Failed
		r.log.Error("script ended without a valid response head", "exit", exit.String(), "pid", proc.Pid())
		r.h.writeError(r.out, r.rec, 502)
	case exit.Code != 0:
		outcome = pool.Failed
	}
	if exit.Code != 0 {
		r.log.Warn("script exited", "exit", exit.String(), "pid", proc.Pid())
	} else {
		r.log.Debug("script exited", "exit", exit.String(), "pid", proc.Pid())
	}
	return outcome
}

// copyOutput streams the script's stdout to the client: first the head,
// checked and rewritten as soon as it is complete, then the body as it
// comes. It reports whether it stopped because the script had exited and a
// leftover child held stdout open past --exit-drain.
func (r *run) copyOutput(stdout *os.File, exited *atomic.Bool) (drained bool) {
	bufp := outputBuffers.Get().(*[]byte)
	defer outputBuffers.Put(bufp)
	buf := *bufp
	var head []byte
	for {
		if exited.Load() {
			// Silence is measured from here, not from the last read: a
			// slow client may have held us in forward for longer than
			// --exit-drain while output still waited in the pipe, and a
			// read past its deadline would not even look at it.
			stdout.SetReadDeadline(time.Now().Add(r.s.exitDrain))
		}
		n, err := stdout.Read(buf)
		if n > 0 {
			// A read that emptied the pipe may be the script's last.
			if werr := r.forward(buf[:n], &head, n < len(buf)); werr != nil {
				return false
			}
		}
		if err != nil {
			return errors.Is(err, os.ErrDeadlineExceeded) && exited.Load()
		}
	}
}

// forward sends one read's worth of output; an error means stop reading.
// mayBeLast lets it wait briefly for more (see send).
func (r *run) forward(p []byte, head *[]byte, mayBeLast bool) error {
	if r.headSent {
		r.outMu.Lock()
		defer r.outMu.Unlock()
		if r.holding {
			r.held = append(r.held, p...)
			if len(r.held) < heldOutputMax {
				return nil
			}
			r.log.Debug("response released before the request body was complete", "held", len(r.held))
			p, r.held, r.holding = r.held, nil, false
		}
		return r.send(p, mayBeLast)
	}
	*head = append(*head, p...)
	// A head can only complete with a newline; re-parsing a growing head
	// on every newline-free dribble would cost quadratic time.
	if bytes.IndexByte(p, '\n') < 0 && len(*head) < cgienv.DefaultMaxHead {
		return nil
	}
	parsed, used, err := cgienv.ParseHead(*head, r.script.NPH, cgienv.DefaultMaxHead)
	if errors.Is(err, cgienv.ErrIncompleteHead) {
		return nil
	}
	if err != nil {
		r.log.Error("invalid response head from script", "error", err)
		r.cancel(errBadHead)
		return err
	}
	if r.headerTimer != nil {
		r.headerTimer.Stop()
	}
	r.rec.status = parsed.Status
	if r.rec.status == 0 {
		r.rec.status = 200
	}
	msg := parsed.AppendTo(make([]byte, 0, 256+len(*head)-used))
	msg = append(msg, (*head)[used:]...)
	*head = nil
	r.outMu.Lock()
	defer r.outMu.Unlock()
	r.headSent = true
	if !r.bodyIn {
		r.held, r.holding = msg, true
		return nil
	}
	return r.send(msg, mayBeLast)
}

// outputCoalesce is how long output that may be a script's last waits for
// the script's exit, to leave in one write with the end of the response:
// a tiny CGI's whole answer then wakes the web server once, not twice. It
// is also the most that output followed by silence is held back.
const outputCoalesce = 2 * time.Millisecond

// send writes to the client; the caller holds outMu. Output that may be
// the script's last may wait outputCoalesce.
func (r *run) send(p []byte, mayBeLast bool) error {
	var err error
	if mayBeLast {
		_, err = r.out.Delay(p, outputCoalesce)
	} else {
		_, err = r.out.Write(p)
	}
	if err != nil {
		r.cancel(err)
	}
	return err
}

// bodyComplete is called once the request body has fully arrived, or once
// nothing will read more of it: output held back for it goes out.
func (r *run) bodyComplete() {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	r.bodyIn = true
	r.releaseHeldLocked()
}

// releaseHeld sends what was held back; the script's output is over.
func (r *run) releaseHeld() {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	r.releaseHeldLocked()
}

func (r *run) releaseHeldLocked() {
	if r.holding {
		held := r.held
		r.held, r.holding = nil, false
		r.send(held, false)
	}
}

// feedBody writes the request body to the script's stdin while its output
// is read elsewhere, so an echo of any size cannot deadlock. A script that
// stops reading early (closes stdin or exits) gets no more, and the rest
// of the body is dropped as it arrives, so the connection keeps moving.
func (r *run) feedBody(stdin *os.File, total *atomic.Int64) {
	defer stdin.Close()
	// However feeding ends, nothing more is waited for before the head.
	defer r.bodyComplete()
	declared, hasDeclared := int64(-1), false
	if cl := r.req.Params["CONTENT_LENGTH"]; cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			declared, hasDeclared = n, true
		}
	}
	if declared == 0 {
		// No body: nothing to wait for, even from a client that never
		// sends the empty FCGI_STDIN.
		r.bodyComplete()
	}
	bufp := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(bufp)
	buf := *bufp
	for {
		n, err := r.req.Stdin.Read(buf)
		if n > 0 {
			seen := total.Add(int64(n))
			if r.s.maxBody > 0 && seen > r.s.maxBody {
				r.cancel(errBodyTooLarge)
				return
			}
			if hasDeclared && seen > declared {
				r.cancel(errBodyExcess)
				return
			}
			if _, werr := stdin.Write(buf[:n]); werr != nil {
				closeRead(r.req.Stdin)
				return
			}
			r.bodyProgress()
			if hasDeclared && seen == declared {
				r.bodyComplete()
			}
		}
		if err != nil {
			return
		}
	}
}

// unblockBody ends a body read that waits for data the web server may
// never send now that the script is gone.
func (r *run) unblockBody() {
	closeRead(r.req.Stdin)
	if r.req.Data != nil {
		closeRead(r.req.Data)
	}
}

// atEOF reports whether an input stream has certainly ended, with nothing
// left to read (wire's streams can tell).
func atEOF(stream io.Reader) bool {
	e, ok := stream.(interface{ AtEOF() bool })
	return ok && e.AtEOF()
}

// closeRead drops the rest of an input stream (wire's streams support it).
func closeRead(stream io.Reader) {
	if c, ok := stream.(interface{ CloseRead() error }); ok {
		c.CloseRead()
	}
}

func (r *run) feedData(data *os.File) {
	defer data.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.req.Data.Read(buf)
		if n > 0 {
			if _, werr := data.Write(buf[:n]); werr != nil {
				closeRead(r.req.Data)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// errnoName gives the errno behind a spawn failure, for the log.
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT:
			return "ENOENT (the program or its #! interpreter is missing)"
		case syscall.ENOEXEC:
			return "ENOEXEC (not a binary and no #! line)"
		case syscall.EACCES:
			return "EACCES (permission denied)"
		}
		return errno.Error()
	}
	return ""
}
