package pool_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

// waitLimit bounds every wait for a condition; it is generous because the
// race detector on a loaded machine is slow, and it only matters on failure.
const waitLimit = 10 * time.Second

type result struct {
	slot *pool.Slot
	err  error
}

// harness runs Acquire calls in goroutines it owns and waits for at cleanup.
type harness struct {
	t *testing.T
	p *pool.Pool
	// wg waits for the goroutines started by start.
	wg sync.WaitGroup
}

// newHarness returns a pool whose cleanup closes it, which ends every waiter,
// and then waits for the goroutines.
func newHarness(t *testing.T, cfg pool.Config) *harness {
	h := &harness{t: t, p: pool.New(cfg)}
	t.Cleanup(func() {
		h.p.Close()
		h.wg.Wait()
	})
	return h
}

// start calls Acquire in a goroutine; its result arrives on the channel.
func (h *harness) start(ctx context.Context, info pool.JobInfo) chan result {
	ch := make(chan result, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s, err := h.p.Acquire(ctx, info)
		ch <- result{s, err}
	}()
	return ch
}

// enqueue starts an Acquire and returns once it is waiting in the queue, so
// successive calls queue in a known order.
func (h *harness) enqueue(ctx context.Context, info pool.JobInfo) chan result {
	h.t.Helper()
	before := h.p.Snapshot().Queued
	ch := h.start(ctx, info)
	h.waitFor("queued", func(s pool.Snapshot) bool { return s.Queued == before+1 })
	return ch
}

// acquire takes a slot that must be free now.
func (h *harness) acquire(info pool.JobInfo) *pool.Slot {
	h.t.Helper()
	s, err := h.p.Acquire(context.Background(), info)
	if err != nil {
		h.t.Fatalf("Acquire(%q): got error %v, want a slot", info.Script, err)
	}
	return s
}

// waitFor polls the snapshot until cond holds or waitLimit passes.
func (h *harness) waitFor(what string, cond func(pool.Snapshot) bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := h.p.Snapshot()
		if cond(s) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waiting for %s: gave up after %v; snapshot %+v", what, waitLimit, s)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// recv waits for one Acquire result.
func recv(t *testing.T, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		t.Fatalf("Acquire did not return within %v", waitLimit)
		return result{}
	}
}

// handOver releases held, then each slot in turn as the next waiter gets
// it, in the order given, and finally the last waiter's slot.
func handOver(t *testing.T, held *pool.Slot, waiters ...chan result) {
	t.Helper()
	for i, ch := range waiters {
		held.Release(pool.OK)
		r := recv(t, ch)
		if r.err != nil {
			t.Fatalf("waiter %d: got %v, want a slot", i, r.err)
		}
		held = r.slot
	}
	held.Release(pool.OK)
}

// pending reports whether the Acquire behind ch is still waiting.
func pending(ch chan result) bool {
	select {
	case r := <-ch:
		ch <- r // put it back so a later recv still sees it
		return false
	default:
		return true
	}
}

func job(name string) pool.JobInfo {
	return pool.JobInfo{Script: name, Method: "GET", URI: "/" + name, Remote: "127.0.0.1"}
}

// counters is the part of a Snapshot that tests compare exactly.
type counters struct {
	Accepted, Rejected, QueueFull, QueueTimedOut          uint64
	TimedOut, Aborted, SpawnFailed, Failed, Completed     uint64
	Active, Queued, MaxActive, MaxQueued, Workers, QLimit int
}

func countersOf(s pool.Snapshot) counters {
	return counters{
		Accepted: s.Accepted, Rejected: s.Rejected, QueueFull: s.QueueFull, QueueTimedOut: s.QueueTimedOut,
		TimedOut: s.TimedOut, Aborted: s.Aborted, SpawnFailed: s.SpawnFailed, Failed: s.Failed, Completed: s.Completed,
		Active: s.Active, Queued: s.Queued, MaxActive: s.MaxActive, MaxQueued: s.MaxQueued,
		Workers: s.Workers, QLimit: s.QueueLimit,
	}
}

func (h *harness) wantCounters(want counters) {
	h.t.Helper()
	if got := countersOf(h.p.Snapshot()); got != want {
		h.t.Errorf("counters:\n got %+v\nwant %+v", got, want)
	}
}
