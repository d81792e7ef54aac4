package spawner

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTimerSlack(t *testing.T) {
	// The forking thread is the one whose slack counts: pin this test to
	// one, give it a slack of its own, and put the old one back after.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own := TimerSlack()
	defer SetTimerSlack(own)
	const ours = 123_456 * time.Nanosecond
	if err := SetTimerSlack(ours); err != nil {
		t.Skipf("cannot set the timer slack here: %v", err)
	}
	if got := TimerSlack(); got != ours {
		t.Skipf("timer slack set to %v reads back as %v (a real-time thread?)", ours, got)
	}

	childSlack := func(cfg Config) time.Duration {
		t.Helper()
		p := start(t, cfg)
		out := strings.TrimSpace(readAll(t, p.Stdout()))
		if exit := waitDone(t, p); exit.Code != 0 {
			t.Fatalf("child: got exit %v, want 0", exit)
		}
		ns, err := strconv.ParseInt(out, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q, want its timer slack", out)
		}
		return time.Duration(ns)
	}

	cfg := childConfig("timerslack")
	if got := childSlack(cfg); got != ours {
		t.Errorf("without TimerSlack: child got %v, want the forking thread's %v", got, ours)
	}
	cfg.TimerSlack = 77_777 * time.Nanosecond
	if got := childSlack(cfg); got != cfg.TimerSlack {
		t.Errorf("with TimerSlack %v: child got %v", cfg.TimerSlack, got)
	}
	if got := TimerSlack(); got != ours {
		t.Errorf("after Start: this thread's slack is %v, want its own %v back", got, ours)
	}
}
