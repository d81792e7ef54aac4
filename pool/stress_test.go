package pool_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

// TestGiveUpRaceLosesNoSlot releases a slot at about the moment the head
// waiter's wait ends, many times over. Whichever wins, the slot must reach a
// caller: the racer itself or the follower queued behind it. The forced
// interleaving is pinned by TestGiveUpAfterGrantPassesSlotOn; this one is
// for the race detector.
func TestGiveUpRaceLosesNoSlot(t *testing.T) {
	iterations := 1000
	if testing.Short() {
		iterations = 100
	}
	tests := []struct {
		name    string
		timeout time.Duration // the racer's QueueTimeout; 0: its ctx is cancelled instead
	}{
		{"cancel", 0},
		{"queue timeout", 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var granted, gaveUp int
			for i := range iterations {
				h := newHarness(t, pool.Config{Workers: 1, Queue: 2, QueueTimeout: tt.timeout})
				held := h.acquire(job("held"))
				ctx, cancel := context.WithCancel(context.Background())
				var racer chan result
				begin := time.Now()
				if tt.timeout == 0 {
					racer = h.enqueue(ctx, job("racer"))
				} else {
					// It may time out before it is seen queued.
					racer = h.start(ctx, job("racer"))
					h.waitFor("racer queued or timed out", func(s pool.Snapshot) bool {
						return s.Queued == 1 || s.QueueTimedOut == 1
					})
				}
				// The follower, queued behind the racer, waits without a limit:
				// unless the racer kept the slot, it must get it.
				h.p.Reconfigure(pool.Config{Workers: 1, Queue: 2})
				follower := h.start(context.Background(), job("follower"))

				start := make(chan struct{})
				var wg sync.WaitGroup // waits for the releasing and the cancelling goroutine
				wg.Add(2)
				go func() {
					defer wg.Done()
					<-start
					// Jitter around the racer's deadline, to meet it from both
					// sides; correctness does not depend on the timing.
					if tt.timeout > 0 {
						time.Sleep(time.Until(begin.Add(tt.timeout + time.Duration(i%40-30)*50*time.Microsecond)))
					}
					for range (i / 8) % 8 {
						runtime.Gosched()
					}
					held.Release(pool.OK)
				}()
				go func() {
					defer wg.Done()
					<-start
					for range i % 8 {
						runtime.Gosched()
					}
					if tt.timeout == 0 {
						cancel()
					}
				}()
				close(start)
				wg.Wait()

				r := recv(t, racer)
				if r.err == nil {
					granted++
					r.slot.Release(pool.OK)
				} else {
					gaveUp++
				}
				f := recv(t, follower)
				if f.err != nil {
					t.Fatalf("follower: got %v, want a slot", f.err)
				}
				f.slot.Release(pool.OK)
				s := h.p.Snapshot()
				want := uint64(2)
				if r.err == nil {
					want++
				}
				if s.Active != 0 || s.Queued != 0 || s.Accepted != want || s.Completed != want {
					t.Fatalf("after the race: Active %d Queued %d Accepted %d Completed %d, want 0 0 %d %d",
						s.Active, s.Queued, s.Accepted, s.Completed, want, want)
				}
				cancel()
			}
			t.Logf("racer got the slot %d times, gave up %d times", granted, gaveUp)
		})
	}
}

// TestStress runs many clients with random cancels and checks that no more
// than Workers ever hold a slot and that every slot comes back.
func TestStress(t *testing.T) {
	const workers, clients, rounds = 3, 32, 50
	h := newHarness(t, pool.Config{Workers: workers, Queue: clients})
	var inside, peak atomic.Int64
	var accepted, cancelled atomic.Uint64
	var wg sync.WaitGroup // waits for the clients
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				if (c+i)%7 == 0 {
					cancel() // some give up at once, some while queued
				} else if (c+i)%5 == 0 {
					go cancel()
				}
				s, err := h.p.Acquire(ctx, job("stress"))
				cancel()
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("got %v, want a slot or %v", err, context.Canceled)
					}
					cancelled.Add(1)
					continue
				}
				accepted.Add(1)
				n := inside.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				inside.Add(-1)
				s.Release(pool.OK)
			}
		}()
	}
	wg.Wait()
	if err := h.p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := h.p.Snapshot()
	if p := peak.Load(); p > workers {
		t.Errorf("peak holders: got %d, want <= %d", p, workers)
	}
	if s.MaxActive > workers {
		t.Errorf("MaxActive: got %d, want <= %d", s.MaxActive, workers)
	}
	if s.Accepted != accepted.Load() || s.Completed != accepted.Load() {
		t.Errorf("Accepted %d Completed %d, want both %d", s.Accepted, s.Completed, accepted.Load())
	}
	if s.Active != 0 || s.Queued != 0 || s.Rejected != 0 {
		t.Errorf("Active %d Queued %d Rejected %d, want 0 0 0", s.Active, s.Queued, s.Rejected)
	}
	if got := accepted.Load() + cancelled.Load(); got != clients*rounds {
		t.Errorf("calls: got %d, want %d", got, clients*rounds)
	}
}
