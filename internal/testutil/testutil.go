// Package testutil holds the few helpers every package's tests share:
// waiting on a condition with a deadline, and a buffer that goroutines may
// write to while a test reads it. It imports nothing from this module, so
// any package's tests may use it.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Deadline bounds every wait: long enough for a loaded CI machine, short
// enough that a hang fails the test instead of the run.
const Deadline = 20 * time.Second

// pollEvery is how often a condition is looked at again.
const pollEvery = 5 * time.Millisecond

// Poll reports whether cond became true within d, looking every few
// milliseconds. It is for callers that report failure their own way
// (testscript commands); tests use WaitFor.
func Poll(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// WaitFor fails the test if cond does not become true within Deadline;
// what names the awaited state in the failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(Deadline, cond) {
		t.Fatalf("gave up after %s waiting for %s", Deadline, what)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent Write and String: a
// logger writes to it from the code under test while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
