package pool

import (
	"cmp"
	"slices"
	"time"
)

// Job is one running job on the status page.
type Job struct {
	PID                         int // 0 until SetPID
	Script, Method, URI, Remote string
	Started                     time.Time // when the slot was granted
}

// Snapshot is a consistent copy of the pool's state and counters, all taken
// at one instant. Counters only grow, from New on.
type Snapshot struct {
	Started             time.Time // when the pool was created
	Workers, QueueLimit int       // the limits in force
	Accepted            uint64    // slots returned by Acquire
	Active              int       // slots held now
	Queued              int       // requests waiting now
	MaxActive           int       // highest Active seen
	MaxQueued           int       // highest Queued seen
	Rejected            uint64    // queue full + queue timeout + closed
	QueueFull           uint64    // ErrQueueFull returned
	QueueTimedOut       uint64    // ErrQueueTimeout returned
	TimedOut            uint64    // released with Timeout
	Aborted             uint64    // released with Aborted
	SpawnFailed         uint64    // released with SpawnFailed
	Failed              uint64    // released with Failed
	Completed           uint64    // released with OK
	Running             []Job     // held slots, sorted by Started
}

// Snapshot returns the current state. Its Running slice is the caller's.
func (p *Pool) Snapshot() Snapshot {
	type held struct {
		seq uint64
		job Job
	}
	p.mu.Lock()
	s := p.stats
	s.Workers = p.cfg.Workers
	s.QueueLimit = p.cfg.Queue
	s.Active = p.active
	s.Queued = p.queue.n
	running := make([]held, len(p.running))
	for i, sl := range p.running {
		running[i] = held{sl.seq, Job{PID: sl.pid, Script: sl.info.Script, Method: sl.info.Method,
			URI: sl.info.URI, Remote: sl.info.Remote, Started: sl.started}}
	}
	p.mu.Unlock()

	// Slots are granted under the lock with a monotonic clock, so grant
	// order is Started order, with ties broken by who came first. Sorting
	// outside the lock keeps a busy status page from stalling admission.
	slices.SortFunc(running, func(a, b held) int { return cmp.Compare(a.seq, b.seq) })
	s.Running = make([]Job, len(running))
	for i, h := range running {
		s.Running[i] = h.job
	}
	return s
}
