package gateway

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// outputChunk is how much script output is read, and so sent as records
// in one writev, at a time. PERF-NOTES: 64 KiB reads with one write per
// read's records ran near raw pipe speed.
const outputChunk = 64 << 10

var outputBuffers = sync.Pool{New: func() any { b := make([]byte, outputChunk); return &b }}

// copyOutput streams the script's stdout to the client: first the head,
// checked and rewritten as soon as it is complete, then the body as it
// comes. It reports whether it stopped because the script had exited and a
// leftover child held stdout open past --exit-drain.
func (r *run) copyOutput(proc *spawner.Process, bound *pipeBounds) (leftovers bool) {
	stdout := proc.Stdout()
	grown := false
	bufp := outputBuffers.Get().(*[]byte)
	defer outputBuffers.Put(bufp)
	buf := *bufp
	var head []byte
	defer func() {
		if !r.resp.headSent.Load() && r.headEnd == nil {
			r.headEnd = cgienv.UnendedHead(head)
		}
	}()
	for {
		if grown {
			// The script streams: what its pipe holds may go by splice.
			switch done, err := r.spliceAvailable(stdout); {
			case err != nil:
				return false
			case done:
				continue
			}
		}
		if bound.hasExited() {
			// Silence is measured from here, not from the last read: a
			// slow client may have held us in forward for longer than
			// --exit-drain while output still waited in the pipe, and a
			// read past its deadline would not even look at it.
			stdout.SetReadDeadline(time.Now().Add(r.s.ExitDrain))
		}
		n, err := stdout.Read(buf)
		if n == len(buf) && !grown {
			// The script fills the default pipe: it streams, and a
			// larger pipe halves the wake-ups per byte (spawner).
			proc.GrowStdout()
			grown = true
		}
		if n > 0 {
			// A read that emptied the pipe may be the script's last.
			if werr := r.forward(buf[:n], &head, n < len(buf)); werr != nil {
				return false
			}
		}
		if err != nil {
			return errors.Is(err, os.ErrDeadlineExceeded) && bound.hasExited()
		}
	}
}

// forward sends one read's worth of output; an error means stop reading.
// Until the head is complete, output collects in head.
func (r *run) forward(p []byte, head *[]byte, mayBeLast bool) error {
	if r.resp.headSent.Load() {
		return r.resp.write(p, mayBeLast)
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
		r.headEnd = err
		r.cancel(errBadHead)
		return err
	}
	r.rec.Status = parsed.Status
	if r.rec.Status == 0 {
		r.rec.Status = 200
	}
	msg := parsed.AppendTo(make([]byte, 0, 256+len(*head)-used))
	msg = append(msg, (*head)[used:]...)
	*head = nil
	r.resp.headComplete()
	return r.resp.write(msg, mayBeLast)
}
