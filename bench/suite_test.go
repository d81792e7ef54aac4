package main

import (
	"strings"
	"testing"
	"time"
)

// TestSummarizeKeepsRoundsPaired: a round without a CPU figure must not
// shift the later rounds, or the CPU ratio would divide one round's
// figure by another's.
func TestSummarizeKeepsRoundsPaired(t *testing.T) {
	a := summarize([]loadResult{
		{Requests: 100, Elapsed: time.Second, cpu: 10 * time.Millisecond},
		{Requests: 100, Elapsed: time.Second},
		{Requests: 100, Elapsed: time.Second, cpu: 30 * time.Millisecond},
	})
	b := summarize([]loadResult{
		{Requests: 100, Elapsed: time.Second, cpu: 20 * time.Millisecond},
		{Requests: 100, Elapsed: time.Second, cpu: 99 * time.Millisecond},
		{Requests: 100, Elapsed: time.Second, cpu: 60 * time.Millisecond},
	})
	if got := cpuRatio(a, b, false); got != 0.5 {
		t.Errorf("cpuRatio: got %v, want 0.5 (rounds 1 and 3, each 0.5)", got)
	}
	if got, want := a.rpsText(), "100 req/s (p50 0.00 ms, p99 0.00 ms; CPU 200 µs/req)"; got != want {
		t.Errorf("rpsText: got %q, want %q", got, want)
	}
	if got := summarize([]loadResult{{Requests: 5, Elapsed: time.Second}}).rpsText(); strings.Contains(got, "CPU") {
		t.Errorf("rpsText without CPU: got %q, want no CPU figure", got)
	}
}
