package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// heldOutputMax bounds the output kept back while the request body still
// arrives. nginx stops sending the body once it has a response head (it
// treats it as an early response), so a script that answers before it has
// read its body (git-http-backend's receive-pack does) would never get the
// rest. Holding the head until the body is in fixes that; a script that
// writes more than this before the body is complete is streaming full
// duplex, which only clients that keep sending (HAProxy, our own) support,
// so from there on output flows as it comes.
const heldOutputMax = 1 << 20

// outputCoalesce is how long output that may be a script's last waits for
// the script's exit, to leave in one write with the end of the response:
// a tiny CGI's whole answer then wakes the web server once, not twice. It
// is also the most that output followed by silence is held back.
const outputCoalesce = 2 * time.Millisecond

// holdState is where a response's output goes.
type holdState uint8

const (
	holding   holdState = iota // the body still arrives: output is kept back
	releasing                  // one goroutine writes the held output; more is kept back behind it
	flowing                    // output goes straight to the client
)

// response is what the client is sent of the script's output. The output
// loop writes to it; the body feeder says when the body is complete, which
// releases what was held. Whoever releases writes without holding mu, and
// output written meanwhile queues behind the release, so order is kept and
// no lock is ever held across a network write: an upload is never stalled
// by a slow download.
type response struct {
	ctx    context.Context // the run's: a cancelled run stops waiting for a release
	out    *countingWriter
	failed func(error) // a failed write cancels the run with its error
	log    hclog.Logger

	// headSent is set once the head was parsed (it is sent, or held).
	// The header timer and the body feeder read it without a lock.
	headSent      atomic.Bool
	headerTimer   *time.Timer // nil without --header-timeout
	headerTimeout time.Duration

	// noSplice is set once the connection refused a splice; only the
	// output loop splices, so only it reads and writes this.
	noSplice bool

	mu       sync.Mutex
	state    holdState
	held     []byte
	released chan struct{} // closed when a release ends (state flowing)
}

func newResponse(ctx context.Context, out *countingWriter, cancel context.CancelCauseFunc, log hclog.Logger) *response {
	return &response{ctx: ctx, out: out, failed: cancel, log: log}
}

// headComplete stops the header timer: the script has answered.
func (w *response) headComplete() {
	w.headSent.Store(true)
	if w.headerTimer != nil {
		w.headerTimer.Stop()
	}
}

// bodyProgress restarts the header timer: a slow upload is not a slow
// script, while one that stops reading its body is held to the limit.
func (w *response) bodyProgress() {
	if w.headerTimer != nil && !w.headSent.Load() {
		w.headerTimer.Reset(w.headerTimeout)
	}
}

// write sends output from the output loop, or keeps it back while the body
// still arrives. mayBeLast lets it wait briefly for more (outputCoalesce).
func (w *response) write(p []byte, mayBeLast bool) error {
	w.mu.Lock()
	switch w.state {
	case flowing:
		w.mu.Unlock()
		return w.send(p, mayBeLast)
	case holding:
		if len(w.held)+len(p) < heldOutputMax {
			w.held = append(w.held, p...)
			w.mu.Unlock()
			return nil
		}
		held := append(w.held, p...)
		w.held, w.state = nil, flowing
		w.mu.Unlock()
		w.log.Debug("response released before the request body was complete", "held", len(held))
		return w.send(held, false)
	default: // releasing
		if len(w.held)+len(p) < heldOutputMax {
			w.held = append(w.held, p...)
			w.mu.Unlock()
			return nil
		}
		released := w.released
		w.mu.Unlock()
		// The release's write is bounded by the send timeout and ends
		// at once when the run is cancelled.
		select {
		case <-released:
		case <-w.ctx.Done():
			return context.Cause(w.ctx)
		}
		return w.write(p, mayBeLast)
	}
}

// bodyComplete is called once the request body has fully arrived, or once
// nothing will read more of it: output held back for it goes out.
func (w *response) bodyComplete() { w.release() }

// finish sends what is still held: the script's output is over. It
// returns once a release by another goroutine has ended too.
func (w *response) finish() {
	if released := w.release(); released != nil {
		select {
		case <-released:
		case <-w.ctx.Done():
		}
	}
}

// release sends the held output, and anything added behind it, then lets
// output flow. If another goroutine is releasing already it returns that
// release's channel instead.
func (w *response) release() (busy <-chan struct{}) {
	w.mu.Lock()
	switch {
	case w.state == releasing:
		defer w.mu.Unlock()
		return w.released
	case w.state == flowing:
		w.mu.Unlock()
		return nil
	case len(w.held) == 0:
		w.state = flowing
		w.mu.Unlock()
		return nil
	}
	w.state = releasing
	w.released = make(chan struct{})
	for len(w.held) > 0 {
		held := w.held
		w.held = nil
		w.mu.Unlock()
		err := w.send(held, false)
		w.mu.Lock()
		if err != nil {
			// The run is cancelled; nothing more reaches the client.
			w.held = nil
		}
	}
	w.state = flowing
	close(w.released)
	w.mu.Unlock()
	return nil
}

// send writes to the client. Output that may be the script's last may
// wait outputCoalesce.
func (w *response) send(p []byte, mayBeLast bool) error {
	var err error
	if mayBeLast {
		_, err = w.out.Delay(p, outputCoalesce)
	} else {
		_, err = w.out.Write(p)
	}
	if err != nil {
		w.failed(err)
	}
	return err
}
