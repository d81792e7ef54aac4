package cgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Request is the cgroup of one script: created empty with the limits
// written (or an empty one reused, see pool_linux.go), handed to spawner
// (FD) so the script starts inside it, killed whole (Kill), read for
// accounting (Usage), and removed (Remove).
type Request struct {
	tree *Tree
	name string        // under tree.scripts
	base time.Duration // cpu.stat usage before this request: a reused cgroup's past

	mu     sync.Mutex
	fd     int // O_PATH descriptor of the directory; -1 once removed
	files  controlFiles
	killed bool // cgroup.kill was written: never reuse it (pool_linux.go)
	// settled is set once cgroup.events said empty and not frozen after
	// the script's end: nothing of this request can come back into it, so
	// the CPU read after that (settledCPU, absolute) is final, and keep
	// need not read either file again.
	settled, settledCPUOK bool
	settledCPU            time.Duration
}

// New makes the cgroup for the next request: an empty one kept from an
// earlier request, or a new one, with the limits written into it.
func (t *Tree) New() (*Request, error) {
	if r := t.reuse(); r != nil {
		return r, nil
	}
	name := strconv.FormatUint(t.seq.Add(1), 10)
	if err := unix.Mkdirat(t.scriptsFD, name, 0o755); err != nil {
		return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(t.scripts, name), Err: err}
	}
	fd, err := unix.Openat(t.scriptsFD, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Unlinkat(t.scriptsFD, name, unix.AT_REMOVEDIR)
		return nil, &os.PathError{Op: "open", Path: filepath.Join(t.scripts, name), Err: err}
	}
	r := &Request{tree: t, name: name, fd: fd, files: noFiles}
	if err := r.writeLimits(); err != nil {
		r.Remove(context.Background())
		return nil, err
	}
	return r, nil
}

func (r *Request) writeLimits() error {
	for _, l := range r.tree.limits {
		if err := writeAt(r.fd, l.Key, l.Value); err != nil {
			return err
		}
	}
	return nil
}

// FD is the cgroup directory's descriptor, for CLONE_INTO_CGROUP
// (syscall.SysProcAttr.CgroupFD). It is valid until Remove.
func (r *Request) FD() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fd
}

// Path is the cgroup's directory.
func (r *Request) Path() string { return filepath.Join(r.tree.scripts, r.name) }

// Kill sends SIGKILL to every process in the cgroup at once (cgroup.kill):
// those that left the script's process group or session die too, and no
// process can fork its way out while the kill runs.
func (r *Request) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 || !r.busyLocked() {
		// Reading cgroup.events spares the common case (a script that
		// left nothing) the cgroup-wide lock that a kill takes, and
		// keeps the cgroup reusable.
		return nil
	}
	r.killed = true
	return writeAt(r.fd, "cgroup.kill", "1")
}

// Usage is what a request's processes used, all of them together.
type Usage struct {
	CPU time.Duration // user and system time (cpu.stat usage_usec)
	// MemPeak is the most memory they held at once, in bytes
	// (memory.peak); 0 when the memory controller is not enabled.
	MemPeak int64
	// OOMKills is how many of them the OOM killer ended because the
	// request reached memory.max (memory.events oom_kill).
	OOMKills int64
}

// Usage reads the cgroup's accounting. A running request's figures are
// what it has used so far.
func (r *Request) Usage() Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var u Usage
	if r.fd < 0 {
		return u
	}
	cpu := r.files.cpuUsage(r.fd)
	if r.settled {
		r.settledCPU, r.settledCPUOK = cpu, true
	}
	u.CPU = cpu - r.base
	if !r.tree.memory {
		return u
	}
	if b, err := readAt(r.fd, "memory.peak"); err == nil {
		u.MemPeak, _ = strconv.ParseInt(string(trimNL(b)), 10, 64)
	}
	if b, err := readAt(r.fd, "memory.events"); err == nil {
		u.OOMKills, _ = field(b, "oom_kill")
	}
	return u
}

func trimNL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

// Remove removes the cgroup, or keeps it for a later request when it is
// empty (pool_linux.go). A cgroup that still holds processes cannot be
// removed: those are killed (cgroup.kill), and the removal is tried again
// as they die, until ctx ends. Removing twice is harmless.
func (r *Request) Remove(ctx context.Context) error {
	r.mu.Lock()
	fd, killed, files := r.fd, r.killed, r.files
	r.fd, r.files = -1, noFiles
	kept := idleCgroup{name: r.name, fd: fd, files: files, cpu: r.settledCPU}
	known := r.settled && r.settledCPUOK
	r.mu.Unlock()
	if fd < 0 || (!killed && r.tree.keep(kept, known)) {
		return nil
	}
	files.close()
	defer unix.Close(fd)
	err := removeAt(ctx, r.tree.scriptsFD, r.name, func() {
		writeAt(fd, "cgroup.kill", "1")
		// A script that may write its cgroup (one that runs as
		// fcgi-wrap's user) may have made cgroups inside it, which
		// rmdir refuses as it does processes.
		ents, _ := os.ReadDir(r.Path())
		for _, e := range ents {
			if e.IsDir() {
				RemoveTree(ctx, filepath.Join(r.Path(), e.Name()))
			}
		}
	})
	if err != nil {
		return &os.PathError{Op: "rmdir", Path: r.Path(), Err: err}
	}
	return nil
}

// removeAt removes the empty cgroup name under dirfd. While it holds
// processes (EBUSY) kill is called once and the removal retried with a
// growing pause: a killed process leaves its cgroup within microseconds
// to milliseconds, so the first retries come quickly.
func removeAt(ctx context.Context, dirfd int, name string, kill func()) error {
	pause := 100 * time.Microsecond
	for killed := false; ; {
		err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case !errors.Is(err, unix.EBUSY):
			return err
		case !killed:
			kill()
			killed = true
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}
