package gateway

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// watchAfter is how long a script runs before it gets the goroutines that
// a long run needs: one that reaps it as it exits and then bounds its
// pipes (pipeBounds), and one that reads its stderr as it comes. Most CGI
// programs are done sooner: their stdout ends, they are reaped with one
// waitid, and their stderr is read to its end by the request's own
// goroutine (settle). Sparing them three goroutines, a pidfd and their
// wake-ups, with the cgroup files kept open, took fcgi-wrap's CPU per
// tiny request down by about a seventh (2-CPU AMD EPYC). What waiting
// costs a script that needs them: one that writes more than a pipe's
// worth (64 KiB) to stderr before its stdout ends pauses until then, and
// --exit-drain for a child that keeps stdout open counts from then at the
// latest.
const watchAfter = 5 * time.Millisecond

// watcher starts the long-run goroutines once: when watchAfter passes, or
// when settle finds the script still running, whichever comes first.
type watcher struct {
	timer *time.Timer
	once  sync.Once
	start func()
}

func (r *run) watchLater(runCtx context.Context, proc *spawner.Process, bound *pipeBounds, feeders *sync.WaitGroup) *watcher {
	w := &watcher{}
	w.start = func() {
		bound.watch(runCtx, proc, r.s)
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			r.forwardStderr(proc.Stderr())
		}()
	}
	w.timer = time.AfterFunc(watchAfter, func() { w.once.Do(w.start) })
	return w
}

// settle follows the end of stdout. If the long-run goroutines have not
// started and the script has exited, its stderr is read here, for as long
// as --exit-drain allows a leftover child that holds it; otherwise they
// start now (or have), and do it. Either way they are not running or
// started when settle returns, so the caller may wait for them.
func (r *run) settle(proc *spawner.Process, w *watcher) {
	if w.timer.Stop() && proc.TryReap() {
		r.forwardStderr(&exitedStderr{proc: proc, deadline: time.Now().Add(r.s.ExitDrain)})
		return
	}
	w.once.Do(w.start)
}

// exitedStderr reads an exited script's stderr: straight from the pipe
// while there is something to read or its end, and through the netpoller,
// until deadline, only if a leftover child still holds it open.
type exitedStderr struct {
	proc     *spawner.Process
	deadline time.Time
	file     *os.File // nil until the pipe was found empty but open
}

func (s *exitedStderr) Read(b []byte) (int, error) {
	if s.file == nil {
		n, err := s.proc.ReadStderrNow(b)
		if !errors.Is(err, spawner.ErrWouldBlock) {
			return n, err
		}
		s.file = s.proc.Stderr()
		s.file.SetReadDeadline(s.deadline)
	}
	return s.file.Read(b)
}
