package wire

import (
	"context"
	"sync"
	"testing"
	"time"
)

func (p *workers) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// TestWorkersReuse: work that comes after other work is done runs on the
// worker that did it, and work that comes while every worker is busy runs
// at once on a new one.
func TestWorkersReuse(t *testing.T) {
	checkNoLeak(t)
	var p workers
	defer p.stop()
	done := make(chan struct{})
	p.run(func() { close(done) })
	recv(t, "the first work", done)
	waitFor(t, "the worker to wait for work", func() bool { return p.idleCount() == 1 })

	// Three at once: the idle worker takes one, two new ones the others.
	var started, release sync.WaitGroup
	release.Add(1)
	for range 3 {
		started.Add(1)
		p.run(func() {
			started.Done()
			release.Wait()
		})
	}
	if n := p.idleCount(); n != 0 {
		t.Errorf("got %d idle workers with three busy, want 0", n)
	}
	waitDone := make(chan struct{})
	go func() {
		started.Wait()
		close(waitDone)
	}()
	recv(t, "three works to run at once", waitDone)
	release.Done()
	waitFor(t, "three idle workers", func() bool { return p.idleCount() == 3 })
}

// TestWorkersExitWhenIdle: a worker without work for two sweeps exits, and
// stop ends idle workers at once and waits for busy ones.
func TestWorkersExitWhenIdle(t *testing.T) {
	checkNoLeak(t)
	p := workers{maxIdle: 10 * time.Millisecond}
	p.run(func() {})
	exited := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(exited)
	}()
	recv(t, "the idle worker to exit", exited)
	if n := p.idleCount(); n != 0 {
		t.Errorf("got %d idle workers after they exited, want 0", n)
	}

	q := workers{maxIdle: time.Hour}
	q.run(func() {})
	waitFor(t, "an idle worker", func() bool { return q.idleCount() == 1 })
	busy, release := make(chan struct{}), make(chan struct{})
	finished := false
	q.run(func() {
		close(busy)
		<-release
		finished = true
	})
	recv(t, "the busy worker", busy)
	time.AfterFunc(10*time.Millisecond, func() { close(release) })
	q.stop()
	if !finished {
		t.Error("stop returned while a worker was busy, want it to wait")
	}
}

// TestShutdownStopsWorkers: once Shutdown has returned, no goroutine of
// the server is left, the idle workers included.
func TestShutdownStopsWorkers(t *testing.T) {
	checkNoLeak(t)
	h := newHarness(t, "unix", echo, nil)
	for range 3 {
		c := h.raw(t)
		c.send(tinyRequest(1, false))
		c.responses(1)
		c.expectEOF()
	}
	waitFor(t, "an idle worker of each kind", func() bool {
		return h.srv.connWorkers.idleCount() > 0 && h.srv.handlerWorkers.idleCount() > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n, m := h.srv.connWorkers.idleCount(), h.srv.handlerWorkers.idleCount(); n != 0 || m != 0 {
		t.Errorf("got %d and %d idle workers after Shutdown, want none", n, m)
	}
}
