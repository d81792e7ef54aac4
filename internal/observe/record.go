// Package observe turns finished requests into what operators read: the
// access log and the Prometheus metrics, from the one Record the gateway
// fills in for each request.
package observe

import (
	"sync/atomic"
	"time"
)

// Record is what is known about one request when it ends. The gateway
// fills it in as the request goes; observers only read it, after the end.
type Record struct {
	Start     time.Time
	Remote    string
	User      string
	Protocol  string
	Method    string
	URI       string
	Script    string
	Status    int // 0: no response was sent
	BytesIn   int64
	BytesOut  int64
	Duration  time.Duration
	QueueWait time.Duration
	Queued    bool // waited for a slot at all (refusals never did)
	SpawnTime time.Duration
	// PID is set once the script starts; the slow-request timer reads it
	// while the request runs.
	PID      atomic.Int64
	ExitCode int // -1: the script did not exit normally, or never ran
	Outcome  string

	// What the script ran as and used; they mean something only when
	// PID is set (the script started).
	UID int           // the script's user id
	CPU time.Duration // user+system CPU of the script and its descendants (its cgroup), or of the script and the children it reaped (rusage)
	// MemPeak is the most memory the script's cgroup held at once, in
	// bytes; 0: not measured (no cgroup, or no memory controller).
	MemPeak int64
}

// Observer learns how each request ended.
type Observer interface {
	Observe(*Record)
}

// Observers fans one finished request out to every interested party.
type Observers []Observer

func (o Observers) Observe(rec *Record) {
	for _, obs := range o {
		obs.Observe(rec)
	}
}
