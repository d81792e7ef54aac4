// Package gateway is one request's life, from the moment wire hands it
// over until its response has ended: answer fcgi-wrap's own pages, resolve
// the script (cgienv), wait for a slot (pool), start the script (spawner),
// stream the body in and the output out, and finish, so that every request
// ends within its bounds whatever the script or its descendants do.
package gateway

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// Settings is what a request runs under. A reload swaps in a new one;
// a request keeps the one it started with.
type Settings struct {
	Resolve cgienv.ResolveOptions
	Env     cgienv.EnvPolicy
	Rlimits []spawner.Rlimit // nil: scripts get fcgi-wrap's own limits

	// StderrToLog and StderrToFCGI route the script's stderr; neither
	// discards it.
	StderrToLog, StderrToFCGI bool

	Timeout       time.Duration // the whole request; 0: none
	HeaderTimeout time.Duration // until the response head; 0: none
	KillGrace     time.Duration // SIGTERM to SIGKILL; 0: SIGKILL at once
	// ExitDrain is how long the pipes are still read once the script has
	// exited (a background child may hold them); at least MinExitDrain.
	ExitDrain time.Duration
	MaxBody   int64 // request body bytes; 0: no limit
	// SpoolDir holds the unlinked files that bodies without
	// CONTENT_LENGTH are spooled to (spool.go); "": os.TempDir().
	SpoolDir string

	StatusPath, PingPath string        // "": no such page
	SlowAfter            time.Duration // log requests running this long; 0: never
}

// MinExitDrain is the shortest ExitDrain: a read whose deadline has passed
// does not look at the pipe at all, so a shorter one would lose output a
// script wrote just before it exited.
const MinExitDrain = 20 * time.Millisecond

// ProcessGuard learns each script's process group while it runs, so that
// it can kill them should fcgi-wrap die without cleaning up.
type ProcessGuard interface {
	Add(pgid int)
	Remove(pgid int)
}

// Gateway is the wire.Handler that runs CGI scripts.
type Gateway struct {
	settings atomic.Pointer[Settings]
	pool     *pool.Pool
	log      hclog.Logger // values capped at observe.MaxLogValue
	// stderrLog logs scripts' stderr lines, which are cut at
	// stderrLineMax bytes rather than observe.MaxLogValue.
	stderrLog hclog.Logger
	seq       atomic.Uint64 // log id per request: FastCGI IDs repeat (nginx always uses 1)
	draining  atomic.Bool   // shutting down: the ping page answers 503

	// Observer, if set, learns how each request ended.
	Observer observe.Observer
	// ServerStats, if set, reads the FastCGI server's live counts for the
	// status page.
	ServerStats func() wire.ServerStats
	// Guard, if set, is told every script's process group.
	Guard ProcessGuard
	// Contain says how scripts are contained and whom they run as; set
	// before serving (contain.go).
	Contain Contain
	running sync.Map // pid -> *running: the status page's view of each script
	// euid is fcgi-wrap's own user, what a script runs as without
	// --run-as owner: asked once, at the first request, which comes after
	// the daemon has dropped its privileges for good.
	euid func() int
}

// New returns a Gateway that admits scripts through p. The fields that
// are nil by default are set before it serves.
func New(s *Settings, p *pool.Pool, log hclog.Logger) *Gateway {
	g := &Gateway{
		euid:      sync.OnceValue(os.Geteuid),
		pool:      p,
		log:       observe.CapValues(log, observe.MaxLogValue),
		stderrLog: observe.CapValues(log, stderrLineMax),
	}
	g.SetSettings(s)
	return g
}

// SetSettings applies s to requests that start from now on.
func (g *Gateway) SetSettings(s *Settings) {
	s.ExitDrain = max(s.ExitDrain, MinExitDrain)
	g.settings.Store(s)
}

// Settings is what new requests run under now.
func (g *Gateway) Settings() *Settings { return g.settings.Load() }

// SetDraining makes the ping page answer 503 from now on, so that a
// balancer's health check takes this instance out before it stops.
func (g *Gateway) SetDraining() { g.draining.Store(true) }

// ServeFCGI answers one request. Its phases run in order: the pages that
// fcgi-wrap answers itself, resolving the script, checking the declared
// body, spooling a body that came without one, admission, and the
// script's run.
func (g *Gateway) ServeFCGI(ctx context.Context, req *wire.Request) uint32 {
	s := g.settings.Load()
	rec := &observe.Record{
		Start:    time.Now(),
		Remote:   req.Params["REMOTE_ADDR"],
		User:     req.Params["REMOTE_USER"],
		Protocol: req.Params["SERVER_PROTOCOL"],
		Method:   req.Params["REQUEST_METHOD"],
		URI:      requestURI(req.Params),
		ExitCode: -1,
		Outcome:  "internal",
	}
	out := &countingWriter{w: req.Stdout}
	defer g.observe(rec, out)
	if g.servePage(s, req, out, rec) {
		return 0
	}
	id := g.seq.Add(1)
	log := g.log.With("req", id)
	script, ok := g.resolve(s, req, out, rec, log)
	if !ok {
		return 0
	}
	log = log.With("script", script.Path)
	cred, ok := g.identity(s, req, script, out, rec, log)
	if !ok {
		return 0
	}
	body, ok := g.spool(ctx, s, req, out, rec, log)
	if !ok {
		return 0
	}
	if body != nil {
		defer body.Close()
	}
	slot, ok := g.admit(ctx, script, out, rec, log)
	if !ok {
		return 0
	}
	if s.SlowAfter > 0 {
		slow := time.AfterFunc(s.SlowAfter, func() {
			log.Warn("slow request", "pid", rec.PID.Load(), "uri", rec.URI, "duration", time.Since(rec.Start).Round(time.Millisecond))
		})
		defer slow.Stop()
	}
	r := &run{g: g, s: s, id: id, req: req, script: script, log: log, rec: rec, out: out, body: body, cred: cred}
	outcome := r.execute(ctx, slot)
	slot.Release(outcome)
	rec.Outcome = outcome.String()
	if rec.ExitCode >= 0 {
		return uint32(rec.ExitCode)
	}
	return 0
}

func (g *Gateway) observe(rec *observe.Record, out *countingWriter) {
	rec.Duration = time.Since(rec.Start)
	rec.BytesOut = out.n.Load()
	if g.Observer != nil {
		g.Observer.Observe(rec)
	}
}

// resolve finds the script and checks the declared body size; a refusal
// has been answered when it reports false.
func (g *Gateway) resolve(s *Settings, req *wire.Request, out *countingWriter, rec *observe.Record, log hclog.Logger) (cgienv.Script, bool) {
	script, err := cgienv.Resolve(req.Params, s.Resolve)
	if err != nil {
		status, why := 500, "cannot resolve the script: "+err.Error()
		var refused *cgienv.Error
		if errors.As(err, &refused) {
			status, why = refused.Status, refusal(refused)
			log.Warn("script refused", "status", status, "reason", refused.Reason, "uri", rec.URI)
		} else {
			log.Error("script resolution failed", "error", err, "uri", rec.URI)
		}
		rec.Outcome = "refused"
		fail(s, req, out, rec, status, why)
		return script, false
	}
	rec.Script = script.Path
	if s.MaxBody > 0 {
		if n, err := strconv.ParseInt(req.Params["CONTENT_LENGTH"], 10, 64); err == nil && n > s.MaxBody {
			log.Warn("request body too large", "script", script.Path, "content_length", n, "max_body", s.MaxBody)
			rec.Outcome = "refused"
			fail(s, req, out, rec, 413, "CONTENT_LENGTH "+strconv.FormatInt(n, 10)+" is over --max-body "+strconv.FormatInt(s.MaxBody, 10))
			return script, false
		}
	}
	return script, true
}

// admit waits for a slot; a request turned away has been answered (or
// its client is gone) when it reports false.
func (g *Gateway) admit(ctx context.Context, script cgienv.Script, out *countingWriter, rec *observe.Record, log hclog.Logger) (*pool.Slot, bool) {
	if log.IsDebug() {
		// A snapshot copies the running list: only worth it when shown.
		if snap := g.pool.Snapshot(); snap.Active >= snap.Workers {
			log.Debug("all workers busy; queued", "active", snap.Active, "queued", snap.Queued)
		}
	}
	slot, err := g.pool.Acquire(ctx, pool.JobInfo{Script: script.Path, Method: rec.Method, URI: rec.URI, Remote: rec.Remote})
	if err != nil {
		if ctx.Err() != nil {
			rec.Outcome = "aborted"
			log.Debug("request ended while queued", "cause", context.Cause(ctx))
			return nil, false
		}
		log.Warn("request rejected", "reason", err, "uri", rec.URI)
		rec.Outcome = "overloaded"
		writeError(out, rec, 503, cgienv.Field{Name: "Retry-After", Value: "1"})
		return nil, false
	}
	rec.QueueWait = slot.Waited()
	rec.Queued = true
	return slot, true
}

func writeError(out *countingWriter, rec *observe.Record, status int, extra ...cgienv.Field) {
	rec.Status = status
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

// countingWriter counts what reaches the client, for the access log.
// The output loop and the body feeder (releasing held output) may both
// write, never at once, so the count is atomic rather than locked.
type countingWriter struct {
	w wire.Output
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Delay is Write for output that may wait up to d to leave with what
// follows it (see wire.Output).
func (c *countingWriter) Delay(p []byte, d time.Duration) (int, error) {
	n, err := c.w.Delay(p, d)
	c.n.Add(int64(n))
	return n, err
}
