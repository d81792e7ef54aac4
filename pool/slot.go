package pool

import (
	"strconv"
	"time"
)

// Outcome is how a job ended, as counted in Snapshot.
type Outcome int

const (
	OK          Outcome = iota // the script exited 0 with a valid head
	Failed                     // the script exited non-zero or sent a bad head
	Timeout                    // the script ran past its deadline and was killed
	Aborted                    // the client went away (ABORT_REQUEST or connection close)
	SpawnFailed                // the script could not be started
)

var outcomeNames = [...]string{
	OK:          "ok",
	Failed:      "failed",
	Timeout:     "timeout",
	Aborted:     "aborted",
	SpawnFailed: "spawn-failed",
}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Slot is the right to run one job. It is held from Acquire to Release.
type Slot struct {
	pool    *Pool
	info    JobInfo
	started time.Time
	waited  time.Duration
	seq     uint64
	// Guarded by pool.mu:
	idx      int // position in pool.running
	pid      int
	released bool
}

// SetPID records the job's process id for the status page.
func (s *Slot) SetPID(pid int) {
	s.pool.mu.Lock()
	s.pid = pid
	s.pool.mu.Unlock()
}

// Release frees the slot, counts the outcome and wakes the next waiter.
// Only the first call counts; later ones do nothing, so a deferred Release
// after an explicit one is harmless. An Outcome outside the defined ones is
// counted as Failed.
func (s *Slot) Release(o Outcome) {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.released {
		return
	}
	switch o {
	case OK:
		p.stats.Completed++
	case Timeout:
		p.stats.TimedOut++
	case Aborted:
		p.stats.Aborted++
	case SpawnFailed:
		p.stats.SpawnFailed++
	default:
		p.stats.Failed++
	}
	p.releaseLocked(s)
}

// Waited returns the time the request spent queued; 0 if it never waited.
func (s *Slot) Waited() time.Duration { return s.waited }
