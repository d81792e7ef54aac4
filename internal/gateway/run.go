package gateway

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
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

// bigBody is the declared body size past which the script's stdin pipe
// is enlarged (PERF-NOTES: a 1 MiB pipe roughly doubled streaming).
const bigBody = 64 << 10

// pipeCloseMargin is how long after the SIGKILL that ends a killed
// script's group its pipes are still read: enough for the kernel to
// deliver what the group wrote before it died. Past it, whatever still
// holds a pipe (a descendant that left the group) no longer holds the
// response.
const pipeCloseMargin = time.Second

// run is one script execution. Its phases run in execute's order, and
// every goroutine it starts is awaited there before execute returns.
type run struct {
	g      *Gateway
	s      *Settings
	id     uint64 // the request's number in the log
	req    *wire.Request
	script cgienv.Script
	log    hclog.Logger
	rec    *observe.Record
	out    *countingWriter
	body   *os.File            // the spooled request body, the script's stdin; nil: streamed (spool.go)
	cred   *syscall.Credential // whom the script runs as; nil: fcgi-wrap's user (contain.go)
	cg     RequestCgroup       // the script's cgroup; nil: none (contain.go)

	cancel  context.CancelCauseFunc
	headEnd error     // why the output gave no valid head, for the 502's reason; set by the output loop
	resp    *response // what the client is sent of the output
}

func (r *run) execute(ctx context.Context, slot *pool.Slot) pool.Outcome {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel
	r.resp = newResponse(runCtx, r.out, cancel, r.log)

	cg, err := r.newCgroup()
	if err != nil {
		r.log.Error("cannot create the script's cgroup", "error", err)
		r.fail(500, "cannot create the script's cgroup: "+err.Error())
		return pool.SpawnFailed
	}
	if cg != nil {
		// Deferred before proc.Close, so it runs after it: the script
		// has been reaped and its cgroup killed by then.
		defer r.removeCgroup(cg)
	}
	r.cg = cg
	proc, err := r.start(runCtx)
	if err != nil {
		status := 500
		if errors.Is(err, syscall.EACCES) {
			status = 403
		}
		// The error names the errno and what it means (spawner.StartError).
		r.log.Error("spawn failed", "error", err)
		r.fail(status, err.Error())
		return pool.SpawnFailed
	}
	defer proc.Close()
	if r.g.Guard != nil {
		r.g.Guard.Add(proc.Pid())
		// Deferred after proc.Close, so it runs after it: by then the
		// group has been killed.
		defer r.g.Guard.Remove(proc.Pid())
	}
	r.rec.PID.Store(int64(proc.Pid()))
	slot.SetPID(proc.Pid())
	defer r.track(proc.Pid(), cg)()
	defer r.armTimers(proc)()

	// feeders waits for the goroutines that write the body and the FILTER
	// data to the script and read its stderr; bound stops each of them
	// within its deadline once the script is gone.
	var feeders sync.WaitGroup
	r.startFeeders(&feeders, proc)
	bound := &pipeBounds{exited: make(chan struct{})}
	w := r.watchLater(runCtx, proc, bound, &feeders)
	leftovers := r.copyOutput(proc, bound)
	r.resp.finish()
	r.settle(proc, w)
	if leftovers {
		r.log.Warn("script exited but its background processes kept stdout open; killed them", "exit_drain", r.s.ExitDrain)
		proc.KillNow()
	}

	r.awaitExit(runCtx, proc)
	// Whatever is left of its process group (a `cmd &` that closed its
	// stdout) goes with it, and with a cgroup whatever left the group
	// too (setsid): no process outlives its request.
	proc.KillNow()
	r.account(proc, cg)
	r.stopFeeding(proc)
	feeders.Wait()
	bound.stop()
	return r.outcome(ctx, runCtx, proc)
}

// start spawns the script with the request's environment.
func (r *run) start(ctx context.Context) (*spawner.Process, error) {
	env, dropped := cgienv.Environ(r.req.Params, r.script, r.req.Role.String(), r.s.Env)
	if len(dropped) > 0 {
		r.log.Debug("params not passed to the script", "params", dropped)
	}
	stdinPipe := 0
	if n, err := strconv.ParseInt(r.req.Params["CONTENT_LENGTH"], 10, 64); err == nil && n > bigBody {
		stdinPipe = 1 << 20
	}
	program, args, env := r.command(env)
	began := time.Now()
	proc, err := spawner.Start(ctx, spawner.Config{
		Path:          program,
		Args:          args,
		Stdin:         r.body,
		Env:           env,
		Dir:           r.script.Dir,
		Data:          r.req.Role == wire.RoleFilter,
		Rlimits:       r.s.Rlimits,
		KillGrace:     r.s.KillGrace,
		Credential:    r.cred,
		Cgroup:        r.cg,
		StdinPipeSize: stdinPipe,
		// copyOutput grows the pipe once output fills it.
		GrowStdoutLater: true,
		// A request whose body has already ended empty (every GET) needs
		// no stdin pipe and no goroutine to feed it: the script reads
		// /dev/null.
		NoStdin: r.req.Stdin.AtEOF(),
	})
	r.rec.SpawnTime = time.Since(began)
	return proc, err
}

// armTimers starts --timeout and --header-timeout; the returned function
// stops them.
func (r *run) armTimers(proc *spawner.Process) (stop func()) {
	var timers []*time.Timer
	if r.s.Timeout > 0 {
		timers = append(timers, time.AfterFunc(r.s.Timeout, func() { r.cancel(errTimeout) }))
	}
	if r.s.HeaderTimeout > 0 {
		r.resp.headerTimer = time.AfterFunc(r.s.HeaderTimeout, func() {
			if !r.resp.headSent.Load() {
				r.cancel(errHeaderTimeout)
			}
		})
		r.resp.headerTimeout = r.s.HeaderTimeout
		timers = append(timers, r.resp.headerTimer)
	}
	return func() {
		for _, t := range timers {
			t.Stop()
		}
	}
}

// awaitExit waits for the script's main process. Output is over, but the
// response cannot end before the script does, as END_REQUEST carries its
// exit status; a script that closed stdout but lingers is still bounded by
// --timeout and by the client going away, whose cancellation kills it
// (SIGKILL at the latest --kill-grace later).
func (r *run) awaitExit(runCtx context.Context, proc *spawner.Process) {
	select {
	case <-proc.Done():
	case <-runCtx.Done():
		<-proc.Done()
	}
	r.rec.ExitCode = int(proc.Exit().AppStatus())
}

// pipeBounds ends the reads of a script's stdout and stderr within their
// bounds once the script is gone, whatever still holds the pipes: a
// background child after the script exited (--exit-drain), or a descendant
// that escaped the group kill after a timeout, an abort or a shutdown
// (--kill-grace and a margin). Its goroutine runs only for scripts that
// outlive the fast path (see watchLater).
type pipeBounds struct {
	exited chan struct{} // closed once the script's main process has exited
	quit   chan struct{} // nil until watch
	done   chan struct{}
}

// watch starts the goroutine that sets the pipes' deadlines.
func (b *pipeBounds) watch(runCtx context.Context, proc *spawner.Process, s *Settings) {
	b.quit, b.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.done)
		var after time.Duration
		select {
		case <-proc.Done():
			close(b.exited)
			after = s.ExitDrain
		case <-runCtx.Done():
			after = s.KillGrace + pipeCloseMargin
		case <-b.quit:
			return
		}
		deadline := time.Now().Add(after)
		proc.Stdout().SetReadDeadline(deadline)
		proc.Stderr().SetReadDeadline(deadline)
	}()
}

// hasExited reports whether the script's main process has exited.
func (b *pipeBounds) hasExited() bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

// stop ends the goroutine, if watch started it.
func (b *pipeBounds) stop() {
	if b.quit != nil {
		close(b.quit)
		<-b.done
	}
}

// stopFeeding ends the body and FILTER data feeders, which may wait for
// input the web server will never send now that the script is gone, or on
// a pipe that a leftover descendant holds open but does not read.
func (r *run) stopFeeding(proc *spawner.Process) {
	for _, f := range []*os.File{proc.Stdin(), proc.Data()} {
		if f != nil {
			f.Close()
		}
	}
	r.req.Stdin.CloseRead()
	if r.req.Data != nil {
		r.req.Data.CloseRead()
	}
}

// outcome decides how the request ended, answers the client if nothing
// was sent yet, and logs it.
func (r *run) outcome(ctx, runCtx context.Context, proc *spawner.Process) pool.Outcome {
	exit := proc.Exit()
	cause := context.Cause(runCtx)
	if ctx.Err() != nil {
		// The web server went away or aborted: nobody to answer.
		r.log.Info("request cancelled; script killed", "cause", context.Cause(ctx), "pid", proc.Pid())
		return pool.Aborted
	}
	headSent := r.resp.headSent.Load()
	outcome := pool.OK
	switch {
	case errors.Is(cause, errTimeout) || errors.Is(cause, errHeaderTimeout):
		outcome = pool.Timeout
		if !headSent {
			r.log.Warn("script timed out before its response head; killed", "cause", cause, "pid", proc.Pid())
			r.fail(504, r.script.Path+": "+cause.Error()+"; killed")
		} else {
			r.log.Warn("script timed out; response cut short", "cause", cause, "pid", proc.Pid())
		}
	case errors.Is(cause, errBodyTooLarge) || errors.Is(cause, errBodyExcess):
		outcome = pool.Failed
		r.log.Warn("request body refused; script killed", "cause", cause, "pid", proc.Pid())
		if !headSent {
			r.fail(413, r.script.Path+": "+cause.Error()+"; killed")
		}
	case errors.Is(cause, errBadHead):
		outcome = pool.Failed
		r.fail(502, strings.TrimPrefix(r.headEnd.Error(), "cgienv: ")+" ("+r.script.Path+")")
	case !headSent:
		outcome = pool.Failed
		r.log.Error("script ended without a valid response head", "exit_status", exit.AppStatus(), "exit", exit.String(), "pid", proc.Pid(), "reason", r.headEnd)
		r.fail(502, r.noHead(exit))
	case exit.Code != 0:
		outcome = pool.Failed
	}
	if exit.Code != 0 {
		r.log.Warn("script exited", "exit_status", exit.AppStatus(), "exit", exit.String(), "pid", proc.Pid())
	} else {
		r.log.Debug("script exited", "exit_status", exit.AppStatus(), "exit", exit.String(), "pid", proc.Pid())
	}
	return outcome
}
