// Package pool implements admission control for CGI scripts: a counting
// semaphore of Workers slots with a bounded, strictly FIFO wait queue, a
// queue wait timeout, live counters for the status page and metrics, and
// draining on shutdown.
//
// It schedules plain jobs and starts no processes itself: the caller holds a
// Slot while its script runs (RFC 3875 gives one process per request, so a
// slot is a process) and reports the pid and the outcome. When the pool is
// full the caller answers 503 (see DESIGN.md, "Bounded everything").
package pool

import (
	"context"
	"errors"
	"sync"
	"time"
)

var (
	// ErrQueueFull means every slot is busy and the wait queue is at its limit.
	ErrQueueFull = errors.New("pool: queue full")
	// ErrQueueTimeout means the request waited QueueTimeout without a slot.
	ErrQueueTimeout = errors.New("pool: timed out waiting for a worker")
	// ErrClosed means the pool is shutting down and admits no one.
	ErrClosed = errors.New("pool: shutting down")
)

// Config sets the pool's limits. New and Reconfigure normalise it: Workers
// below 1 becomes 1, a negative Queue or QueueTimeout becomes 0.
type Config struct {
	// Workers is how many scripts may run at once; must be >= 1.
	Workers int
	// Queue is how many requests may wait for a slot. If 0, none may wait:
	// a request is rejected at once when all slots are busy.
	Queue int
	// QueueTimeout is the longest wait for a slot. If 0, a request waits as
	// long as its context allows.
	QueueTimeout time.Duration
}

func (c Config) normalize() Config {
	c.Workers = max(c.Workers, 1)
	c.Queue = max(c.Queue, 0)
	c.QueueTimeout = max(c.QueueTimeout, 0)
	return c
}

// JobInfo describes a request for the status page.
type JobInfo struct {
	Script, Method, URI, Remote string
}

// Pool admits jobs. All its methods are safe for concurrent use. A waiter
// costs no goroutine beyond the caller's own: it sleeps in Acquire on its
// own channel, which whoever frees a slot closes.
type Pool struct {
	mu      sync.Mutex
	cfg     Config
	closed  bool
	active  int
	queue   queue
	running []*Slot         // held slots; Slot.idx is the position here
	drained []chan struct{} // Wait calls to wake when active drops to 0
	seq     uint64          // grant order, to sort Running stably
	stats   Snapshot        // counters only; Running, Active and the rest are filled in by Snapshot
}

// New returns an empty, open pool.
func New(cfg Config) *Pool {
	p := &Pool{cfg: cfg.normalize()}
	p.stats.Started = time.Now()
	return p
}

// Acquire waits for a slot in strict arrival (FIFO) order. It returns at
// once with ErrQueueFull when the queue is full, ErrClosed after Close,
// ErrQueueTimeout after QueueTimeout, and ctx's error when ctx ends first
// (a waiter that gives up leaves the queue and does not take a slot).
// Queue-full, queue-timeout and closed rejections are counted; a caller
// whose ctx ends is not, since the pool did not turn it away.
//
// The caller must Release the slot it gets.
func (p *Pool) Acquire(ctx context.Context, info JobInfo) (*Slot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.stats.Rejected++
		p.mu.Unlock()
		return nil, ErrClosed
	case p.queue.n == 0 && p.active < p.cfg.Workers:
		s := p.grantLocked(info, time.Now(), 0)
		p.mu.Unlock()
		return s, nil
	case p.queue.n >= p.cfg.Queue:
		p.stats.Rejected++
		p.stats.QueueFull++
		p.mu.Unlock()
		return nil, ErrQueueFull
	}
	w := &waiter{info: info, queued: time.Now(), ready: make(chan struct{})}
	p.queue.push(w)
	p.stats.MaxQueued = max(p.stats.MaxQueued, p.queue.n)
	timeout := p.cfg.QueueTimeout
	p.mu.Unlock()

	var expired <-chan time.Time // nil: no queue timeout, wait on ctx only
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ready:
		return w.slot, w.err
	case <-expired:
		return p.giveUp(w, ErrQueueTimeout)
	case <-ctx.Done():
		return p.giveUp(w, ctx.Err())
	}
}

// giveUp takes w out of the queue after its wait ended. A slot may have
// been handed to w in the same instant; the caller is gone, so the slot goes
// to the next waiter instead of being lost.
func (p *Pool) giveUp(w *waiter, err error) (*Slot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case w.err != nil: // Close got there first and already counted it
		return nil, w.err
	case w.slot != nil:
		p.stats.Accepted-- // it never reached a caller
		p.releaseLocked(w.slot)
	default:
		p.queue.remove(w)
	}
	if err == ErrQueueTimeout {
		p.stats.Rejected++
		p.stats.QueueTimedOut++
	}
	return nil, err
}

// grantLocked hands out a slot; p.mu must be held.
func (p *Pool) grantLocked(info JobInfo, now time.Time, waited time.Duration) *Slot {
	p.seq++
	s := &Slot{pool: p, info: info, started: now, waited: waited, seq: p.seq, idx: len(p.running)}
	p.running = append(p.running, s)
	p.active++
	p.stats.Accepted++
	p.stats.MaxActive = max(p.stats.MaxActive, p.active)
	return s
}

// releaseLocked frees s and admits waiters; p.mu must be held.
func (p *Pool) releaseLocked(s *Slot) {
	s.released = true
	last := p.running[len(p.running)-1]
	p.running[s.idx] = last
	last.idx = s.idx
	p.running[len(p.running)-1] = nil
	p.running = p.running[:len(p.running)-1]
	p.active--
	p.dispatchLocked()
	if p.active == 0 {
		for _, ch := range p.drained {
			close(ch)
		}
		p.drained = nil
	}
}

// dispatchLocked admits waiters from the head of the queue while slots are
// free; p.mu must be held. After Close the queue is empty and stays so.
func (p *Pool) dispatchLocked() {
	if p.queue.n == 0 {
		return // spare the clock read on the common path
	}
	now := time.Now()
	for p.queue.n > 0 && p.active < p.cfg.Workers {
		w := p.queue.pop()
		w.slot = p.grantLocked(w.info, now, now.Sub(w.queued))
		close(w.ready)
	}
}

// Reconfigure changes the limits live. More workers admit waiters at once;
// fewer let running jobs finish and admit no one until active < Workers; a
// shorter queue rejects nobody already waiting, only new arrivals. A new
// QueueTimeout applies to requests that arrive after the call.
func (p *Pool) Reconfigure(cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg.normalize()
	p.dispatchLocked()
}

// Config returns the limits in force, normalised.
func (p *Pool) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Close rejects every waiting and future Acquire with ErrClosed, counting
// each as rejected; running slots are untouched. Close is idempotent.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for p.queue.n > 0 {
		w := p.queue.pop()
		w.err = ErrClosed
		p.stats.Rejected++
		close(w.ready)
	}
}

// Wait blocks until no slot is held, or ctx ends (returning ctx.Err()). On
// shutdown call Close first, or new requests may keep the pool busy.
func (p *Pool) Wait(ctx context.Context) error {
	p.mu.Lock()
	if p.active == 0 {
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	p.drained = append(p.drained, ch)
	p.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, c := range p.drained {
			if c == ch {
				p.drained = append(p.drained[:i], p.drained[i+1:]...)
				break
			}
		}
		return ctx.Err()
	}
}
