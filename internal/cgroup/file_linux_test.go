package cgroup

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestControlFilesRead reads control files as every request does, from
// plain files of the kernel's format: the values, then that a read of a
// kept-open file costs no allocation.
func TestControlFilesRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cgroup.events", "populated 1\nfrozen 0\n")
	write("cpu.stat", "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\n")
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	files := noFiles
	defer files.close()

	if got := files.cpuUsage(dirfd); got != 1234*time.Microsecond {
		t.Errorf("cpuUsage: got %v, want 1.234ms", got)
	}
	if populated, frozen, ok := files.events(dirfd); !ok || !populated || frozen {
		t.Errorf("events: got populated %v frozen %v ok %v, want true false true", populated, frozen, ok)
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() {
		files.cpuUsage(dirfd)
		files.events(dirfd)
	})
	if allocs != 0 {
		t.Errorf("reading both files: got %.0f allocations, want 0", allocs)
	}
}
