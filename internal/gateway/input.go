package gateway

import (
	"errors"
	"math"
	"os"
	"strconv"
	"sync"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// bodyChunk is how much request body is taken from the connection and
// written to the script's stdin at once: several records per pipe write.
const bodyChunk = 256 << 10

var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, bodyChunk); return &b }}

// startFeeders starts the goroutines that feed the script its body and
// FILTER data; feeders waits for them. Stderr is read by watch.go.
func (r *run) startFeeders(feeders *sync.WaitGroup, proc *spawner.Process) {
	if stdin := proc.Stdin(); stdin == nil {
		r.resp.bodyComplete()
	} else {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			r.feedBody(stdin)
		}()
	}
	if data := proc.Data(); data != nil {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			feed(data, r.req.Data)
		}()
	}
}

// feedBody writes the request body to the script's stdin while its output
// is read elsewhere, so an echo of any size cannot deadlock. A script that
// stops reading early (closes stdin or exits) gets no more, and the rest
// of the body is dropped as it arrives, so the connection keeps moving.
// The body goes from the connection into the pipe by splice(2) where it
// can, and is read and written where it cannot (what came with the
// request, or a record that would break a limit).
func (r *run) feedBody(stdin *os.File) {
	f := bodyFeed{r: r, stdin: stdin, declared: -1, allowed: math.MaxInt64, splice: true}
	defer func() {
		// A refused body leaves the pipe open: closed, it would tell the
		// script the body was complete, and it could answer a request
		// cut short before it is killed. stopFeeding closes it then.
		if !f.refused {
			stdin.Close()
		}
	}()
	// However feeding ends, nothing more is waited for before the head.
	defer r.resp.bodyComplete()
	if cl := r.req.Params["CONTENT_LENGTH"]; cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			f.declared = n
			f.allowed = n
		}
	}
	if r.s.MaxBody > 0 {
		f.allowed = min(f.allowed, r.s.MaxBody)
	}
	if f.declared == 0 {
		// No body: nothing to wait for, even from a client that never
		// sends the empty FCGI_STDIN.
		r.resp.bodyComplete()
	}
	bufp := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(bufp)
	defer func() { r.rec.BytesIn = f.seen }()
	for f.step(*bufp) {
	}
}

// bodyFeed is feedBody's progress.
type bodyFeed struct {
	r        *run
	stdin    *os.File
	declared int64 // CONTENT_LENGTH, or -1
	allowed  int64 // the most the limits let through
	seen     int64
	splice   bool // the stream may still splice
	refused  bool // the body broke a limit: the request is cancelled
}

// step moves some of the body, spliced or read, and reports whether there
// may be more.
func (f *bodyFeed) step(buf []byte) bool {
	in := f.r.req.Stdin
	if f.splice {
		n, err := in.SpliceTo(f.stdin, f.allowed-f.seen, f.r.resp.bodyProgress)
		f.seen += n
		if n > 0 && f.seen == f.declared {
			f.r.resp.bodyComplete()
		}
		switch {
		case errors.Is(err, wire.ErrNotSpliceable):
			f.splice = false
		case err != nil:
			in.CloseRead()
			return false
		}
	}
	n, err := in.Read(buf)
	if n > 0 {
		f.seen += int64(n)
		if f.r.s.MaxBody > 0 && f.seen > f.r.s.MaxBody {
			f.refused = true
			f.r.cancel(errBodyTooLarge)
			return false
		}
		if f.declared >= 0 && f.seen > f.declared {
			f.refused = true
			f.r.cancel(errBodyExcess)
			return false
		}
		if _, werr := f.stdin.Write(buf[:n]); werr != nil {
			in.CloseRead()
			return false
		}
		f.r.resp.bodyProgress()
		if f.seen == f.declared {
			f.r.resp.bodyComplete()
		}
	}
	return err == nil
}

// feed copies a FILTER request's FCGI_DATA to the script's fd 3.
func feed(dst *os.File, src wire.Input) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.CloseRead()
				return
			}
		}
		if err != nil {
			return
		}
	}
}
