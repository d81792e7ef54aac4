package wire

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// workerIdle is the period of the sweep of idle workers: a worker with
// nothing to do waits one to two periods for work before it exits. Work
// that comes once a second still finds one, and the surplus of a burst is
// gone soon after it.
const workerIdle = time.Second

// workers runs the server's goroutines of one kind (connections, or
// requests' handlers) on goroutines that outlive them. A goroutine starts
// with a small stack and, each time a call needs more, doubles it, copying
// it and rewriting its frames: a fresh goroutine per connection and per
// request grew its stack three times per tiny CGI request, 4% of the
// daemon's CPU (perf, AMD EPYC, 2 cores). A worker keeps the stack its work
// grew to (the GC shrinks an idle one's by half at most per cycle), so
// serving the next connection or request grows nothing. One pool per kind
// keeps a connection idle for hours from sitting on a handler's stack.
//
// Idle workers are swept once per maxIdle rather than timed one by one: a
// timer reset per request cost 2.5 us of the 11 saved.
//
// The zero value is ready to use; stop ends it.
type workers struct {
	// maxIdle is the sweep period: a worker exits after waiting for work
	// for one to two periods. 0 means workerIdle.
	maxIdle time.Duration

	mu     sync.Mutex
	idle   []*worker   // waiting for work, in the order they began to
	gen    int         // sweeps so far
	sweep  *time.Timer // runs expire while a worker is idle; nil before the first
	armed  bool        // sweep is set to run
	closed bool        // stop was called: workers exit when their work is done

	// wg waits for every worker goroutine.
	wg sync.WaitGroup
}

// worker is an idle worker's mailbox.
type worker struct {
	work chan func() // cap 1: run never waits; nil tells the worker to exit
	gen  int         // the sweeps there had been when it began to wait
}

// run runs f on a worker: the one busy last among the idle, else a new one.
func (p *workers) run(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.work <- f
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.serve(f)
}

// serve is a worker's goroutine: it runs f, then what run hands it, until
// a sweep or stop tells it to exit.
func (p *workers) serve(f func()) {
	defer p.wg.Done()
	w := &worker{work: make(chan func(), 1)}
	for f != nil {
		f()
		if !p.park(w) {
			return
		}
		f = <-w.work
	}
}

// park puts w on the idle list, or reports false once the pool is stopped.
func (p *workers) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	w.gen = p.gen
	p.idle = append(p.idle, w)
	if !p.armed {
		p.armed = true
		if p.sweep == nil {
			p.sweep = time.AfterFunc(p.period(), p.expire)
		} else {
			p.sweep.Reset(p.period())
		}
	}
	return true
}

// period is the sweep period: maxIdle, or workerIdle by default.
func (p *workers) period() time.Duration { return cmp.Or(p.maxIdle, workerIdle) }

// expire ends the workers that have waited since before the last sweep,
// and sweeps again later while any wait.
func (p *workers) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.gen++
	// The idle list is in the order the workers began to wait.
	n := 0
	for n < len(p.idle) && p.idle[n].gen < p.gen-1 {
		p.idle[n].work <- nil
		n++
	}
	p.idle = slices.Delete(p.idle, 0, n)
	if len(p.idle) > 0 {
		p.sweep.Reset(p.period())
	} else {
		p.armed = false
	}
}

// stop makes the idle workers exit, and the busy ones when their work is
// done, and waits for them all. Work run gets afterwards still runs, on a
// worker that exits after it.
func (p *workers) stop() {
	p.mu.Lock()
	p.closed = true
	if p.sweep != nil {
		p.sweep.Stop()
	}
	for _, w := range p.idle {
		w.work <- nil
	}
	p.idle = nil
	p.mu.Unlock()
	p.wg.Wait()
}
