package pool_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

// FuzzOps drives the pool with a sequence of operations decoded from the
// input and checks every result and counter against a plain model: a list of
// holders, a FIFO list of waiters, the limits, and the counters.
func FuzzOps(f *testing.F) {
	// Each byte is one operation: the low 3 bits pick it, the rest is its argument.
	f.Add([]byte{0, 0, 0, 1, 1, 7})
	f.Add([]byte{0, 0, 0, 0, 2 | 1<<3, 1, 1, 7})
	f.Add([]byte{3 | 2<<3, 0, 0, 0, 0, 0, 3, 1, 1, 1, 1, 7})
	f.Add([]byte{3 | 20<<3, 0, 0, 0, 0, 4, 0, 1, 7})
	f.Add([]byte{3 | 5<<3, 0, 0, 0, 0, 0, 0, 2 | 2<<3, 3 | 1<<3, 1 | 3<<3, 1, 1, 1, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		m := &model{h: newHarness(t, pool.Config{Workers: 1, Queue: 1}), workers: 1, queue: 1}
		for _, op := range ops {
			arg := int(op >> 3)
			switch op & 7 {
			case 0, 5, 6:
				m.acquire()
			case 1:
				m.release(arg)
			case 2:
				m.cancel(arg)
			case 3:
				m.reconfigure(1+arg%4, arg/4%4)
			case 4:
				m.close()
			case 7:
				m.check()
			}
			if t.Failed() {
				return
			}
		}
		m.check()
		m.close()
		for len(m.held) > 0 {
			m.release(0)
		}
		if err := m.h.p.Wait(context.Background()); err != nil {
			t.Errorf("Wait: got %v, want nil", err)
		}
		m.check()
	})
}

type modelWaiter struct {
	ch     chan result
	cancel context.CancelFunc
}

type model struct {
	h              *harness
	workers, queue int
	closed         bool
	held           []*pool.Slot
	waiters        []modelWaiter // in arrival order
	want           counters
}

func (m *model) acquire() {
	t := m.h.t
	t.Helper()
	switch {
	case m.closed:
		m.rejectNow(pool.ErrClosed)
		m.want.Rejected++
	case len(m.waiters) == 0 && len(m.held) < m.workers:
		s, err := m.h.p.Acquire(context.Background(), job("w"))
		if err != nil {
			t.Fatalf("free slot: got %v, want a slot", err)
		}
		m.grant(s)
	case len(m.waiters) >= m.queue:
		m.rejectNow(pool.ErrQueueFull)
		m.want.Rejected++
		m.want.QueueFull++
	default:
		ctx, cancel := context.WithCancel(context.Background())
		m.waiters = append(m.waiters, modelWaiter{m.h.enqueue(ctx, job("w")), cancel})
		m.want.MaxQueued = max(m.want.MaxQueued, len(m.waiters))
	}
}

func (m *model) rejectNow(want error) {
	if _, err := m.h.p.Acquire(context.Background(), job("w")); !errors.Is(err, want) {
		m.h.t.Fatalf("got %v, want %v", err, want)
	}
}

func (m *model) grant(s *pool.Slot) {
	m.held = append(m.held, s)
	m.want.Accepted++
	m.want.MaxActive = max(m.want.MaxActive, len(m.held))
}

// admit receives the slots the pool must have handed to the head waiters.
func (m *model) admit() {
	for !m.closed && len(m.waiters) > 0 && len(m.held) < m.workers {
		w := m.waiters[0]
		m.waiters = m.waiters[1:]
		r := recv(m.h.t, w.ch)
		w.cancel()
		if r.err != nil {
			m.h.t.Fatalf("head waiter: got %v, want a slot", r.err)
		}
		m.grant(r.slot)
	}
	for _, w := range m.waiters {
		if !pending(w.ch) {
			m.h.t.Fatalf("a waiter returned while it should still wait")
		}
	}
}

func (m *model) release(arg int) {
	if len(m.held) == 0 {
		return
	}
	i := arg % len(m.held)
	o := pool.Outcome(arg % 6) // 5 is outside the defined outcomes
	m.held[i].Release(o)
	m.held[i].Release(pool.OK) // idempotent
	m.held = append(m.held[:i], m.held[i+1:]...)
	switch o {
	case pool.OK:
		m.want.Completed++
	case pool.Timeout:
		m.want.TimedOut++
	case pool.Aborted:
		m.want.Aborted++
	case pool.SpawnFailed:
		m.want.SpawnFailed++
	default:
		m.want.Failed++
	}
	m.admit()
}

func (m *model) cancel(arg int) {
	if len(m.waiters) == 0 {
		return
	}
	i := arg % len(m.waiters)
	w := m.waiters[i]
	m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
	w.cancel()
	if r := recv(m.h.t, w.ch); !errors.Is(r.err, context.Canceled) {
		m.h.t.Fatalf("cancelled waiter: got %v, want %v", r.err, context.Canceled)
	}
}

func (m *model) reconfigure(workers, queue int) {
	m.workers, m.queue = workers, queue
	m.h.p.Reconfigure(pool.Config{Workers: workers, Queue: queue})
	m.admit()
}

func (m *model) close() {
	m.h.p.Close()
	m.closed = true
	for _, w := range m.waiters {
		if r := recv(m.h.t, w.ch); !errors.Is(r.err, pool.ErrClosed) {
			m.h.t.Fatalf("waiter at Close: got %v, want %v", r.err, pool.ErrClosed)
		}
		w.cancel()
		m.want.Rejected++
	}
	m.waiters = nil
}

func (m *model) check() {
	m.h.t.Helper()
	want := m.want
	want.Active, want.Queued, want.Workers, want.QLimit = len(m.held), len(m.waiters), m.workers, m.queue
	m.h.wantCounters(want)
	if n := len(m.h.p.Snapshot().Running); n != len(m.held) {
		m.h.t.Errorf("Running: got %d jobs, want %d", n, len(m.held))
	}
}
