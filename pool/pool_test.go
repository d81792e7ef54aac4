package pool_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    pool.Outcome
		want string
	}{
		{pool.OK, "ok"},
		{pool.Failed, "failed"},
		{pool.Timeout, "timeout"},
		{pool.Aborted, "aborted"},
		{pool.SpawnFailed, "spawn-failed"},
		{pool.Outcome(42), "Outcome(42)"},
		{pool.Outcome(-1), "Outcome(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigNormalized(t *testing.T) {
	tests := []struct {
		name string
		in   pool.Config
		want pool.Config
	}{
		{"as given", pool.Config{Workers: 4, Queue: 10, QueueTimeout: time.Second}, pool.Config{Workers: 4, Queue: 10, QueueTimeout: time.Second}},
		{"zero value", pool.Config{}, pool.Config{Workers: 1}},
		{"negatives", pool.Config{Workers: -3, Queue: -1, QueueTimeout: -time.Second}, pool.Config{Workers: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New(tt.in)
			if got := p.Config(); got != tt.want {
				t.Errorf("New: got %+v, want %+v", got, tt.want)
			}
			p = pool.New(pool.Config{Workers: 9, Queue: 9})
			p.Reconfigure(tt.in)
			if got := p.Config(); got != tt.want {
				t.Errorf("Reconfigure: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAcquireFreeSlot(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 2, Queue: 1})
	a := h.acquire(job("a"))
	b := h.acquire(job("b"))
	for _, s := range []*pool.Slot{a, b} {
		if got := s.Waited(); got != 0 {
			t.Errorf("Waited: got %v, want 0 for a free slot", got)
		}
	}
	h.wantCounters(counters{Accepted: 2, Active: 2, MaxActive: 2, Workers: 2, QLimit: 1})
	a.Release(pool.OK)
	b.Release(pool.OK)
	h.wantCounters(counters{Accepted: 2, Completed: 2, MaxActive: 2, Workers: 2, QLimit: 1})
}

func TestQueueFull(t *testing.T) {
	tests := []struct {
		queue int
	}{{0}, {1}, {3}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("queue=%d", tt.queue), func(t *testing.T) {
			h := newHarness(t, pool.Config{Workers: 1, Queue: tt.queue})
			s := h.acquire(job("held"))
			var waiters []chan result
			for i := range tt.queue {
				waiters = append(waiters, h.enqueue(context.Background(), job(fmt.Sprint(i))))
			}
			_, err := h.p.Acquire(context.Background(), job("over"))
			if !errors.Is(err, pool.ErrQueueFull) {
				t.Fatalf("got %v, want %v", err, pool.ErrQueueFull)
			}
			h.wantCounters(counters{Accepted: 1, Rejected: 1, QueueFull: 1, Active: 1, Queued: tt.queue,
				MaxActive: 1, MaxQueued: tt.queue, Workers: 1, QLimit: tt.queue})
			s.Release(pool.OK)
			for i, ch := range waiters {
				r := recv(t, ch)
				if r.err != nil {
					t.Fatalf("waiter %d: got %v, want a slot", i, r.err)
				}
				r.slot.Release(pool.OK)
			}
			h.wantCounters(counters{Accepted: uint64(1 + tt.queue), Completed: uint64(1 + tt.queue), Rejected: 1, QueueFull: 1,
				MaxActive: 1, MaxQueued: tt.queue, Workers: 1, QLimit: tt.queue})
		})
	}
}

// TestFIFO queues waiters in a known order and checks that slots go to them
// in exactly that order, one per release.
func TestFIFO(t *testing.T) {
	const n = 20
	h := newHarness(t, pool.Config{Workers: 1, Queue: n})
	held := h.acquire(job("first"))
	waiters := make([]chan result, n)
	for i := range waiters {
		waiters[i] = h.enqueue(context.Background(), job(fmt.Sprint(i)))
	}
	for i := range waiters {
		held.Release(pool.OK)
		r := recv(t, waiters[i])
		if r.err != nil {
			t.Fatalf("waiter %d: got %v, want a slot", i, r.err)
		}
		for j := i + 1; j < n; j++ {
			if !pending(waiters[j]) {
				t.Fatalf("after release %d: waiter %d got through before waiter %d", i, j, i+1)
			}
		}
		if got := h.p.Snapshot().Running[0].Script; got != fmt.Sprint(i) {
			t.Errorf("running: got %q, want %q", got, fmt.Sprint(i))
		}
		if r.slot.Waited() <= 0 {
			t.Errorf("waiter %d: Waited got %v, want > 0", i, r.slot.Waited())
		}
		held = r.slot
	}
	held.Release(pool.OK)
	h.wantCounters(counters{Accepted: n + 1, Completed: n + 1, MaxActive: 1, MaxQueued: n, Workers: 1, QLimit: n})
}

func TestQueueTimeout(t *testing.T) {
	const timeout = 20 * time.Millisecond
	h := newHarness(t, pool.Config{Workers: 1, Queue: 2, QueueTimeout: timeout})
	held := h.acquire(job("held"))
	begin := time.Now()
	_, err := h.p.Acquire(context.Background(), job("late"))
	if !errors.Is(err, pool.ErrQueueTimeout) {
		t.Fatalf("got %v, want %v", err, pool.ErrQueueTimeout)
	}
	if waited := time.Since(begin); waited < timeout {
		t.Errorf("returned after %v, want at least %v", waited, timeout)
	}
	h.wantCounters(counters{Accepted: 1, Rejected: 1, QueueTimedOut: 1, Active: 1, MaxActive: 1, MaxQueued: 1, Workers: 1, QLimit: 2})
	held.Release(pool.OK)
	// The timed-out waiter must not have kept a claim on the slot.
	h.wantCounters(counters{Accepted: 1, Completed: 1, Rejected: 1, QueueTimedOut: 1, MaxActive: 1, MaxQueued: 1, Workers: 1, QLimit: 2})
}

// TestContextEndsFirst: a shorter ctx deadline wins over QueueTimeout and
// is returned as the ctx's own error, not counted as a rejection.
func TestContextEndsFirst(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    error
	}{
		{"deadline, no queue timeout", 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}, context.DeadlineExceeded},
		{"deadline before queue timeout", time.Hour, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", time.Hour, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pool.Config{Workers: 1, Queue: 1, QueueTimeout: tt.timeout})
			held := h.acquire(job("held"))
			ctx, cancel := tt.ctx()
			defer cancel()
			if _, err := h.p.Acquire(ctx, job("w")); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			held.Release(pool.OK)
			got := countersOf(h.p.Snapshot())
			want := counters{Accepted: 1, Completed: 1, MaxActive: 1, MaxQueued: got.MaxQueued, Workers: 1, QLimit: 1}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestCancelledContextTakesNoFreeSlot(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := h.p.Acquire(ctx, job("gone")); !errors.Is(err, context.Canceled) || s != nil {
		t.Fatalf("got (%v, %v), want (nil, %v)", s, err, context.Canceled)
	}
	h.wantCounters(counters{Workers: 1})
}

// TestCancelMiddleWaiter: a waiter that leaves from the middle of the queue
// keeps the others in order and frees its queue place.
func TestCancelMiddleWaiter(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 1, Queue: 3})
	held := h.acquire(job("held"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w0 := h.enqueue(context.Background(), job("0"))
	w1 := h.enqueue(ctx, job("1"))
	w2 := h.enqueue(context.Background(), job("2"))
	cancel()
	if r := recv(t, w1); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled waiter: got %v, want %v", r.err, context.Canceled)
	}
	h.wantCounters(counters{Accepted: 1, Active: 1, Queued: 2, MaxActive: 1, MaxQueued: 3, Workers: 1, QLimit: 3})
	w3 := h.enqueue(context.Background(), job("3")) // the freed place is usable again
	handOver(t, held, w0, w2, w3)
	h.wantCounters(counters{Accepted: 4, Completed: 4, MaxActive: 1, MaxQueued: 3, Workers: 1, QLimit: 3})
}

func TestClose(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 1, Queue: 2})
	held := h.acquire(job("held"))
	w0 := h.enqueue(context.Background(), job("0"))
	w1 := h.enqueue(context.Background(), job("1"))
	h.p.Close()
	h.p.Close() // idempotent: must not panic or count twice
	for i, ch := range []chan result{w0, w1} {
		if r := recv(t, ch); !errors.Is(r.err, pool.ErrClosed) || r.slot != nil {
			t.Errorf("waiter %d: got (%v, %v), want (nil, %v)", i, r.slot, r.err, pool.ErrClosed)
		}
	}
	if _, err := h.p.Acquire(context.Background(), job("after")); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("after Close: got %v, want %v", err, pool.ErrClosed)
	}
	h.p.Reconfigure(pool.Config{Workers: 5, Queue: 5}) // must not reopen
	if _, err := h.p.Acquire(context.Background(), job("after reconfigure")); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("after Reconfigure: got %v, want %v", err, pool.ErrClosed)
	}
	h.wantCounters(counters{Accepted: 1, Rejected: 4, Active: 1, MaxActive: 1, MaxQueued: 2, Workers: 5, QLimit: 5})
	held.Release(pool.Aborted)
	h.wantCounters(counters{Accepted: 1, Rejected: 4, Aborted: 1, MaxActive: 1, MaxQueued: 2, Workers: 5, QLimit: 5})
}

func TestWait(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 2})
	if err := h.p.Wait(context.Background()); err != nil {
		t.Fatalf("idle pool: got %v, want nil", err)
	}
	a, b := h.acquire(job("a")), h.acquire(job("b"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := h.p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("busy pool: got %v, want %v", err, context.DeadlineExceeded)
	}

	done := make(chan error, 2)
	for range 2 {
		go func() { done <- h.p.Wait(context.Background()) }()
	}
	a.Release(pool.OK)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v with a slot still held", err)
	default:
	}
	b.Release(pool.OK)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("got %v, want nil", err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("Wait did not return within %v of the last release", waitLimit)
		}
	}
}

func TestReleaseCountsOutcomeOnce(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 6})
	outcomes := []pool.Outcome{pool.OK, pool.Failed, pool.Timeout, pool.Aborted, pool.SpawnFailed, pool.Outcome(99)}
	for _, o := range outcomes {
		s := h.acquire(job(o.String()))
		s.Release(o)
		s.Release(pool.OK) // idempotent: neither counted nor freed twice
	}
	h.wantCounters(counters{Accepted: 6, Completed: 1, Failed: 2, TimedOut: 1, Aborted: 1, SpawnFailed: 1, MaxActive: 1, Workers: 6})
}

func TestSnapshotRunning(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 4})
	before := time.Now()
	slots := []*pool.Slot{h.acquire(job("a")), h.acquire(job("b")), h.acquire(job("c")), h.acquire(job("d"))}
	for i, s := range slots {
		s.SetPID(100 + i)
	}
	slots[0].Release(pool.OK) // leaves a hole the others must close in order
	got := h.p.Snapshot()
	if got.Started.After(before) {
		t.Errorf("Started: got %v, want before %v", got.Started, before)
	}
	want := []string{"b", "c", "d"}
	if len(got.Running) != len(want) {
		t.Fatalf("Running: got %d jobs, want %d", len(got.Running), len(want))
	}
	for i, j := range got.Running {
		wantJob := job(want[i])
		if j.Script != wantJob.Script || j.Method != wantJob.Method || j.URI != wantJob.URI || j.Remote != wantJob.Remote {
			t.Errorf("Running[%d]: got %+v, want %+v", i, j, wantJob)
		}
		if j.PID != 101+i {
			t.Errorf("Running[%d].PID: got %d, want %d", i, j.PID, 101+i)
		}
		if j.Started.Before(before) || (i > 0 && j.Started.Before(got.Running[i-1].Started)) {
			t.Errorf("Running[%d].Started: got %v, not in grant order", i, j.Started)
		}
	}
	got.Running[0].Script = "mutated"
	if h.p.Snapshot().Running[0].Script != "b" {
		t.Errorf("Snapshot shares its Running slice with the pool")
	}
	for _, s := range slots[1:] {
		s.Release(pool.OK)
	}
	if got := h.p.Snapshot().Running; len(got) != 0 {
		t.Errorf("Running after all released: got %+v, want none", got)
	}
}
