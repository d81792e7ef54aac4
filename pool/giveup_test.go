package pool

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGiveUpAfterGrantPassesSlotOn pins the race where a slot is handed to a
// waiter in the same instant its wait ends: the waiter returns its error and
// the slot goes to the next waiter instead of being lost. The interleaving
// is forced by calling giveUp by hand after the grant.
func TestGiveUpAfterGrantPassesSlotOn(t *testing.T) {
	tests := []struct {
		name            string
		err             error
		wantQueueTimeds uint64
	}{
		{"queue timeout", ErrQueueTimeout, 1},
		{"context cancelled", context.Canceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Config{Workers: 1, Queue: 2})
			held, err := p.Acquire(context.Background(), JobInfo{Script: "held"})
			if err != nil {
				t.Fatal(err)
			}
			loser := &waiter{info: JobInfo{Script: "loser"}, queued: time.Now(), ready: make(chan struct{})}
			next := &waiter{info: JobInfo{Script: "next"}, queued: time.Now(), ready: make(chan struct{})}
			p.mu.Lock()
			p.queue.push(loser)
			p.queue.push(next)
			p.mu.Unlock()

			held.Release(OK)
			select {
			case <-loser.ready:
			default:
				t.Fatal("release did not grant the slot to the head waiter")
			}
			if s, err := p.giveUp(loser, tt.err); s != nil || !errors.Is(err, tt.err) {
				t.Fatalf("giveUp: got (%v, %v), want (nil, %v)", s, err, tt.err)
			}
			select {
			case <-next.ready:
			default:
				t.Fatal("slot was not passed on to the next waiter")
			}
			if next.slot == nil || next.err != nil {
				t.Fatalf("next waiter: got (%v, %v), want a slot", next.slot, next.err)
			}
			snap := p.Snapshot()
			if snap.Active != 1 || snap.Accepted != 2 || snap.Queued != 0 || snap.QueueTimedOut != tt.wantQueueTimeds || snap.Rejected != tt.wantQueueTimeds {
				t.Errorf("got Active %d Accepted %d Queued %d QueueTimedOut %d Rejected %d, want 1 2 0 %d %d",
					snap.Active, snap.Accepted, snap.Queued, snap.QueueTimedOut, snap.Rejected, tt.wantQueueTimeds, tt.wantQueueTimeds)
			}
			if len(snap.Running) != 1 || snap.Running[0].Script != "next" {
				t.Errorf("Running: got %+v, want only %q", snap.Running, "next")
			}
			next.slot.Release(OK)
			if err := p.Wait(context.Background()); err != nil {
				t.Errorf("Wait: got %v, want nil", err)
			}
		})
	}
}

// TestGiveUpAfterCloseReturnsErrClosed: Close decided first, so the waiter
// reports ErrClosed and is counted once, as closed.
func TestGiveUpAfterCloseReturnsErrClosed(t *testing.T) {
	p := New(Config{Workers: 1, Queue: 1})
	held, err := p.Acquire(context.Background(), JobInfo{})
	if err != nil {
		t.Fatal(err)
	}
	w := &waiter{queued: time.Now(), ready: make(chan struct{})}
	p.mu.Lock()
	p.queue.push(w)
	p.mu.Unlock()
	p.Close()
	if _, err := p.giveUp(w, ErrQueueTimeout); !errors.Is(err, ErrClosed) {
		t.Errorf("got %v, want %v", err, ErrClosed)
	}
	if snap := p.Snapshot(); snap.Rejected != 1 || snap.QueueTimedOut != 0 {
		t.Errorf("got Rejected %d QueueTimedOut %d, want 1 0", snap.Rejected, snap.QueueTimedOut)
	}
	held.Release(OK)
}

func TestWaitCancelledForgetsItself(t *testing.T) {
	p := New(Config{Workers: 1})
	s, err := p.Acquire(context.Background(), JobInfo{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want %v", err, context.Canceled)
	}
	p.mu.Lock()
	n := len(p.drained)
	p.mu.Unlock()
	if n != 0 {
		t.Errorf("drained: got %d registered, want 0", n)
	}
	s.Release(OK)
}
