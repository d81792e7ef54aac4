package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
)

const (
	// stderrLineMax cuts log lines: a script printing a binary blob to
	// stderr must not make a megabyte log entry.
	stderrLineMax = 4 << 10
	// stderrBurst lines may be logged at once per request, then
	// stderrPerSecond more each second; the rest are counted and dropped.
	stderrBurst     = 200
	stderrPerSecond = 50
)

// Stderr buffers are reused: a fresh 16 KiB (or 4 KiB) buffer per request
// was the largest allocation of a tiny request, for a stream most scripts
// leave empty.
var (
	stderrBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}
	stderrReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, stderrLineMax) }}
)

// forwardStderr reads the script's stderr until EOF, or until the read
// deadline that ends it once the script is gone (pipeBounds): to the web
// server as FCGI_STDERR, to our log line by line, both, or nowhere. It
// reads all there is so a chatty script never blocks on a full pipe.
func (r *run) forwardStderr(stderr io.Reader) {
	toFCGI, toLog := r.s.StderrToFCGI, r.s.StderrToLog
	if !toLog {
		bufp := stderrBuffers.Get().(*[]byte)
		defer stderrBuffers.Put(bufp)
		buf := *bufp
		for {
			n, err := stderr.Read(buf)
			if n > 0 && toFCGI {
				if _, werr := r.req.Stderr.Write(buf[:n]); werr != nil {
					toFCGI = false
				}
			}
			if err != nil {
				return
			}
		}
	}
	// Lines keep up to stderrLineMax bytes, more than other logged values:
	// a script's own message is worth reading whole.
	var log hclog.Logger
	limiter := newLineLimiter(time.Now())
	br := stderrReaders.Get().(*bufio.Reader)
	br.Reset(stderr)
	defer func() {
		br.Reset(nil)
		stderrReaders.Put(br)
	}()
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if toFCGI {
				if _, werr := r.req.Stderr.Write(line); werr != nil {
					toFCGI = false
				}
			}
			truncated := errors.Is(err, bufio.ErrBufferFull)
			if limiter.allow(time.Now()) {
				if log == nil {
					log = r.g.stderrLog.With("req", r.id, "script", observe.Cut(r.script.Path, observe.MaxLogValue))
				}
				text := string(bytes.TrimRight(line, "\r\n"))
				if truncated {
					log.Warn("script stderr", "line", text, "truncated", true)
				} else {
					log.Warn("script stderr", "line", text)
				}
			}
			if truncated {
				// Skip the rest of an over-long line rather than
				// logging it as several lines.
				for errors.Is(err, bufio.ErrBufferFull) {
					line, err = br.ReadSlice('\n')
					if toFCGI && len(line) > 0 {
						if _, werr := r.req.Stderr.Write(line); werr != nil {
							toFCGI = false
						}
					}
				}
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if dropped := limiter.dropped; dropped > 0 {
				r.log.Warn("script stderr lines dropped by the rate limit", "dropped", dropped)
			}
			if !errors.Is(err, io.EOF) {
				r.log.Debug("reading script stderr", "error", err)
			}
			return
		}
	}
}

// lineLimiter is a token bucket: a burst, then a steady rate.
type lineLimiter struct {
	tokens  float64
	last    time.Time
	dropped int
}

func newLineLimiter(now time.Time) *lineLimiter {
	return &lineLimiter{tokens: stderrBurst, last: now}
}

func (l *lineLimiter) allow(now time.Time) bool {
	l.tokens += now.Sub(l.last).Seconds() * stderrPerSecond
	if l.tokens > stderrBurst {
		l.tokens = stderrBurst
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	l.dropped++
	return false
}
