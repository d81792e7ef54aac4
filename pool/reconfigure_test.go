package pool_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

func TestReconfigureMoreWorkersAdmitsWaiters(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 1, Queue: 5})
	held := h.acquire(job("held"))
	w := []chan result{
		h.enqueue(context.Background(), job("0")),
		h.enqueue(context.Background(), job("1")),
		h.enqueue(context.Background(), job("2")),
	}
	h.p.Reconfigure(pool.Config{Workers: 3, Queue: 5})
	for i, ch := range w[:2] {
		r := recv(t, ch)
		if r.err != nil {
			t.Fatalf("waiter %d: got %v, want a slot", i, r.err)
		}
		defer r.slot.Release(pool.OK)
	}
	if !pending(w[2]) {
		t.Fatalf("waiter 2 got through with all 3 workers busy")
	}
	h.wantCounters(counters{Accepted: 3, Active: 3, Queued: 1, MaxActive: 3, MaxQueued: 3, Workers: 3, QLimit: 5})
	held.Release(pool.OK)
	r := recv(t, w[2])
	if r.err != nil {
		t.Fatalf("waiter 2: got %v, want a slot", r.err)
	}
	r.slot.Release(pool.OK)
}

func TestReconfigureFewerWorkersDrainsFirst(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 3, Queue: 1})
	held := []*pool.Slot{h.acquire(job("a")), h.acquire(job("b")), h.acquire(job("c"))}
	h.p.Reconfigure(pool.Config{Workers: 1, Queue: 1})
	w := h.enqueue(context.Background(), job("w"))
	for i, s := range held[:2] {
		s.Release(pool.OK)
		// Release admits under the pool's lock, so the snapshot is already final.
		if got, want := h.p.Snapshot().Active, 2-i; got != want {
			t.Fatalf("after release %d: Active got %d, want %d", i, got, want)
		}
		if !pending(w) {
			t.Fatalf("after release %d: waiter admitted with Active %d >= Workers 1", i, 2-i)
		}
	}
	held[2].Release(pool.OK)
	r := recv(t, w)
	if r.err != nil {
		t.Fatalf("got %v, want a slot", r.err)
	}
	h.wantCounters(counters{Accepted: 4, Completed: 3, Active: 1, MaxActive: 3, MaxQueued: 1, Workers: 1, QLimit: 1})
	r.slot.Release(pool.OK)
}

func TestReconfigureShorterQueueKeepsWaiters(t *testing.T) {
	h := newHarness(t, pool.Config{Workers: 1, Queue: 3})
	held := h.acquire(job("held"))
	var w []chan result
	for i := range 3 {
		w = append(w, h.enqueue(context.Background(), job(fmt.Sprint(i))))
	}
	h.p.Reconfigure(pool.Config{Workers: 1, Queue: 1})
	if _, err := h.p.Acquire(context.Background(), job("new")); !errors.Is(err, pool.ErrQueueFull) {
		t.Fatalf("new arrival: got %v, want %v", err, pool.ErrQueueFull)
	}
	h.wantCounters(counters{Accepted: 1, Rejected: 1, QueueFull: 1, Active: 1, Queued: 3, MaxActive: 1, MaxQueued: 3, Workers: 1, QLimit: 1})
	handOver(t, held, w...)
}
