package gateway

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// errBodyStalled ends a spooling whose client stopped sending: nothing for
// --header-timeout, the bound a streamed body has before its script's head.
var errBodyStalled = errors.New("request body stalled: no data for --header-timeout")

// testHookSpoolWait, if set, is called when spool is about to wait for a
// stdin that has not begun, so a test can send it only then.
var testHookSpoolWait func()

// spool is the phase between resolving and admission for a body that
// comes without CONTENT_LENGTH (nginx with fastcgi_request_buffering off
// forwards a chunked upload so). RFC 3875 section 4.1.2 has a body come
// with its length, and CGI.pm, PHP and most scripts read nothing without
// one; so such a body is read whole into an unlinked temporary file,
// which becomes the script's stdin, and CONTENT_LENGTH is set to its
// size. It runs before admission: a slow upload holds no worker.
//
// A request with a CONTENT_LENGTH streams as before, and one whose stdin
// ends empty (every GET) makes no file. It returns nil then. It reports
// false when it has answered the request or the client has gone. A length
// that is not a number of bytes (Caddy sends -1 for a chunked body) is no
// length.
func (g *Gateway) spool(ctx context.Context, s *Settings, req *wire.Request, out *countingWriter, rec *observe.Record, log hclog.Logger) (*os.File, bool) {
	if n, err := strconv.ParseInt(req.Params["CONTENT_LENGTH"], 10, 64); (err == nil && n >= 0) || req.Stdin.AtEOF() {
		return nil, true
	}
	if testHookSpoolWait != nil {
		testHookSpoolWait()
	}
	began := time.Now()
	sp := &spooler{in: req.Stdin, dir: s.SpoolDir, max: s.MaxBody}
	stall := sp.closeAfter(s.HeaderTimeout, errBodyStalled)
	total := sp.closeAfter(s.Timeout, errTimeout)
	f, n, err := sp.copy(stall.reset)
	stall.stop()
	total.stop()
	if err == nil {
		if f == nil {
			return nil, true // the body ended empty: a GET
		}
		// The script learns the length of the body it gets, as if
		// the server had sent it.
		req.Params["CONTENT_LENGTH"] = strconv.FormatInt(n, 10)
		rec.BytesIn = n
		log.Debug("request body without CONTENT_LENGTH spooled", "bytes_in", n, "duration", time.Since(began))
		return f, true
	}
	if f != nil {
		f.Close() // unlinked: its space is freed
	}
	// The web server may still be sending; drop the rest.
	req.Stdin.CloseRead()
	rec.BytesIn = n
	rec.Outcome = "refused"
	switch cause := sp.why(); {
	case ctx.Err() != nil:
		rec.Outcome = "aborted"
		log.Debug("request ended while its body was spooled", "cause", context.Cause(ctx))
	case errors.Is(err, errBodyTooLarge):
		log.Warn("request body too large", "bytes_in", n, "max_body", s.MaxBody)
		fail(s, req, out, rec, 413, "request body without CONTENT_LENGTH is over --max-body "+strconv.FormatInt(s.MaxBody, 10)+" bytes")
	case cause != nil:
		rec.Outcome = "timeout"
		log.Warn("request body not received in time", "cause", cause, "bytes_in", n)
		fail(s, req, out, rec, 504, cause.Error()+" (after "+strconv.FormatInt(n, 10)+" bytes)")
	default:
		rec.Outcome = "internal"
		log.Error("cannot spool the request body", "error", err, "spool_dir", s.SpoolDir)
		fail(s, req, out, rec, 500, "cannot spool the request body: "+err.Error())
	}
	return nil, false
}

// spooler copies one request body into a file, and knows why its stream
// was closed under it.
type spooler struct {
	in  wire.Input
	dir string // --spool-dir; "": the system's
	max int64  // --max-body; 0: none

	mu    sync.Mutex
	cause error // set by the timer that closed in
}

// copy reads the body to its end into a spool file, made only once the
// first byte arrives; progress is called after each read that brought
// some. It returns the file, rewound, or nil if the body was empty.
func (sp *spooler) copy(progress func()) (f *os.File, n int64, err error) {
	bufp := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(bufp)
	buf := *bufp
	for {
		k, rerr := sp.in.Read(buf)
		if k > 0 {
			progress()
			n += int64(k)
			if sp.max > 0 && n > sp.max {
				return f, n, errBodyTooLarge
			}
			if f == nil {
				if f, err = spoolFile(sp.dir); err != nil {
					return nil, n, err
				}
			}
			if _, err := f.Write(buf[:k]); err != nil {
				return f, n, err
			}
		}
		switch {
		case errors.Is(rerr, io.EOF):
			if f != nil {
				_, err = f.Seek(0, io.SeekStart)
			}
			return f, n, err
		case rerr != nil:
			return f, n, rerr
		}
	}
}

func (sp *spooler) why() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.cause
}

// closeAfter closes the body stream with cause once d has passed (never
// for d <= 0): a Read waiting on it returns at once.
func (sp *spooler) closeAfter(d time.Duration, cause error) *spoolTimer {
	t := &spoolTimer{d: d}
	if d <= 0 {
		return t
	}
	t.fired.Add(1)
	t.t = time.AfterFunc(d, func() {
		defer t.fired.Done()
		sp.mu.Lock()
		if sp.cause == nil {
			sp.cause = cause
		}
		sp.mu.Unlock()
		sp.in.CloseRead()
	})
	return t
}

// spoolTimer is one of closeAfter's timers. Its function runs on a
// goroutine of its own, which stop waits for.
type spoolTimer struct {
	t     *time.Timer // nil: no limit
	d     time.Duration
	fired sync.WaitGroup // the timer's function, once it is armed
	spent bool           // it fired, or is firing: never re-arm it
}

// reset starts the period again; only the goroutine that reads calls it.
func (t *spoolTimer) reset() {
	if t.t == nil || t.spent {
		return
	}
	if !t.t.Stop() {
		t.spent = true
		return
	}
	t.t.Reset(t.d)
}

// stop disarms the timer, or waits for its function if it has begun.
func (t *spoolTimer) stop() {
	if t.t == nil {
		return
	}
	if !t.spent && t.t.Stop() {
		t.fired.Done()
	}
	t.fired.Wait()
}
