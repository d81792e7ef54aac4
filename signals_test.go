package main

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// signalMasks reads the SigIgn and SigCgt masks of /proc/PID/status text.
func signalMasks(t *testing.T, status string) (ignored, caught uint64) {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		name, hex, ok := strings.Cut(line, ":\t")
		if !ok || (name != "SigIgn" && name != "SigCgt") {
			continue
		}
		v, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if name == "SigIgn" {
			ignored = v
		} else {
			caught = v
		}
	}
	return ignored, caught
}

func bit(sig syscall.Signal) uint64 { return 1 << (uint(sig) - 1) }

func TestSignalsLeftAtDefault(t *testing.T) {
	leaveSignalsAtDefault()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	ignored, caught := signalMasks(t, string(status))
	for _, sig := range signalsLeftDefault() {
		// Only a signal the runtime counts as ignored is one whose handler
		// it no longer resets in each forked child.
		if !signal.Ignored(sig) {
			t.Errorf("signal %d: the runtime still counts it as its own to reset in children", sig)
		}
		if caught&bit(sig) != 0 {
			t.Errorf("signal %d: still caught by the runtime, want its default action", sig)
		}
		if ignored&bit(sig) != 0 {
			t.Errorf("signal %d: ignored, which every script would inherit; want its default action", sig)
		}
	}
	// What the runtime and fcgi-wrap rely on keeps its handler.
	for _, sig := range []syscall.Signal{syscall.SIGURG, syscall.SIGPIPE, syscall.SIGPROF, syscall.SIGSEGV, syscall.SIGXCPU, syscall.SIGPWR} {
		if caught&bit(sig) == 0 {
			t.Errorf("signal %d (%v): lost the runtime's handler", sig, sig)
		}
	}

	// A child starts with every one of them at its default.
	out, err := exec.Command("cat", "/proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	if ignored, _ := signalMasks(t, string(out)); ignored != 0 {
		t.Errorf("child: SigIgn %016x, want nothing ignored", ignored)
	}
}
