package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"running thread", "318050900 2596722 77\n", 318050900, false},
		{"never ran", "0 0 0\n", 0, false},
		{"past 32 bits", "5000000000123 1 2\n", 5000000000123, false},
		{"empty", "", 0, true},
		{"two fields", "1 2\n", 0, true},
		{"not a number", "x 2 3\n", 0, true},
		{"negative", "-5 2 3\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSchedstat([]byte(tt.in))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// fakeProc is a /proc tree with just what family and readCPU read.
type fakeProc struct {
	t    *testing.T
	root string
}

func (f fakeProc) process(pid, ppid int, comm string) {
	f.t.Helper()
	dir := filepath.Join(f.root, fmt.Sprint(pid))
	if err := os.MkdirAll(filepath.Join(dir, "task"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 1 0 123 456\n", pid, comm, ppid, pid, pid)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f fakeProc) thread(pid, tid int, ns int64) {
	f.t.Helper()
	dir := filepath.Join(f.root, fmt.Sprint(pid), "task", fmt.Sprint(tid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schedstat"), fmt.Appendf(nil, "%d 999 7\n", ns), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f fakeProc) exitThread(pid, tid int) {
	f.t.Helper()
	if err := os.RemoveAll(filepath.Join(f.root, fmt.Sprint(pid), "task", fmt.Sprint(tid))); err != nil {
		f.t.Fatal(err)
	}
}

// TestDaemonCPUFromSchedstat builds a daemon with threads, a helper, a
// script and a stranger that shares the helper's name, and checks that
// the sum covers every thread of the daemon and its helper and nothing
// else, across two samples.
func TestDaemonCPUFromSchedstat(t *testing.T) {
	f := fakeProc{t, t.TempDir()}
	const daemon = 100
	f.process(daemon, 1, "fcgi-wrap")
	f.thread(daemon, 100, 1_000_000)
	f.thread(daemon, 101, 2_000_000)
	f.thread(daemon, 102, 500_000) // ends before the second sample
	f.process(110, daemon, "awk")  // the group guard
	f.thread(110, 110, 300_000)
	f.process(120, daemon, "tiny") // a script: never counted
	f.thread(120, 120, 9_000_000)
	f.process(130, daemon, "fcgi-wrap") // a script before its exec
	f.thread(130, 130, 9_000_000)
	f.process(140, 1, "awk") // someone else's awk
	f.thread(140, 140, 9_000_000)

	comms := []string{"awk", "mawk", "gawk", "sh"}
	pids := family(f.root, daemon, comms)
	slices.Sort(pids)
	if want := []int{daemon, 110}; !slices.Equal(pids, want) {
		t.Fatalf("family: got %v, want %v", pids, want)
	}
	before := readCPU(f.root, pids)
	if got, want := before.since(nil), 3_800_000*time.Nanosecond; got != want {
		t.Errorf("first sample: got %v in all, want %v", got, want)
	}

	f.thread(daemon, 100, 1_250_000)
	f.thread(daemon, 101, 2_000_000)
	f.exitThread(daemon, 102)
	f.thread(daemon, 103, 40_000) // a thread started in between
	f.thread(110, 110, 310_000)
	f.thread(120, 120, 99_000_000)
	after := readCPU(f.root, family(f.root, daemon, comms))
	if got, want := after.since(before), (250_000+40_000+10_000)*time.Nanosecond; got != want {
		t.Errorf("between samples: got %v, want %v", got, want)
	}
}

func TestCPUSampleSince(t *testing.T) {
	tests := []struct {
		name          string
		before, after cpuSample
		want          time.Duration
	}{
		{"same threads", cpuSample{1: 10, 2: 20}, cpuSample{1: 15, 2: 27}, 12},
		{"new thread counts whole", cpuSample{1: 10}, cpuSample{1: 10, 2: 5}, 5},
		{"ended thread costs only its interval", cpuSample{1: 10, 2: 1000}, cpuSample{1: 12}, 2},
		{"reused id counts from zero", cpuSample{1: 1000}, cpuSample{1: 3}, 3},
		{"nothing found", cpuSample{1: 10}, cpuSample{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.after.since(tt.before); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDaemonCPUSelf reads this process's own threads from the real /proc
// while it burns CPU: a reader that found no threads or read the wrong
// field would never see the time grow.
func TestDaemonCPUSelf(t *testing.T) {
	pids := []int{os.Getpid()}
	before := readCPU(procRoot, pids)
	if len(before) == 0 {
		t.Fatal("got no threads of this process")
	}
	deadline := time.Now().Add(10 * time.Second)
	x := 1
	for readCPU(procRoot, pids).since(before) < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("got %v of CPU after 10 s of a busy loop, want 20 ms", readCPU(procRoot, pids).since(before))
		}
		for range 100_000 {
			x = x*31 + 7
		}
	}
	_ = x
}

func FuzzParseSchedstat(f *testing.F) {
	f.Add([]byte("318050900 2596722 77\n"))
	f.Add([]byte("0 0 0"))
	f.Add([]byte("1 2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseSchedstat(b)
		if err == nil && d < 0 {
			t.Errorf("got %v from %q, want no negative time", d, b)
		}
		if err != nil && d != 0 {
			t.Errorf("got %v with error %v, want 0", d, err)
		}
	})
}
