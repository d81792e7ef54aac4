package cgroup

import (
	"time"

	"golang.org/x/sys/unix"
)

// Request cgroups are kept and reused once their script and all it
// started are gone, instead of being removed and made anew for every
// request: mkdir and rmdir of a cgroup, and the first fork into a new one,
// take the kernel's cgroup-wide lock and cost a tiny CGI on 2 CPUs 10-25%
// of its requests per second at concurrency 2 to 64 (bench/run -only tiny
// against --cgroup off); a reused cgroup costs a read of cgroup.events and
// one of cpu.stat. A cgroup is reused only when nothing of its last
// request can reach the next one: it holds no process and is not frozen,
// it was never killed (on Linux 6.x a clone3 into a cgroup that was ever
// written cgroup.kill is killed at birth: its kill count is compared with
// the forking parent's cgroup's; see TestKilledCgroupNotReused),
// its limits are written again (a script running as fcgi-wrap's user may
// have changed them), and its CPU is counted from where the last request
// left it. With the memory controller, cgroups are not reused: the page
// cache a script read stays charged to its cgroup, and would count against
// the next script's memory.max and peak; rmdir hands it to the parent.

// maxIdle bounds the empty cgroups kept: more than the scripts that run at
// once on any sensible --workers, and few enough to cost nothing (a few
// KiB of kernel memory each).
const maxIdle = 64

// idleCgroup is an empty request cgroup kept for another request, with
// the control files the next one reads still open.
type idleCgroup struct {
	name  string
	fd    int
	files controlFiles
	cpu   time.Duration // its cpu.stat usage when it was kept
}

// reuse returns a kept cgroup as a new Request, or nil if there is none.
func (t *Tree) reuse() *Request {
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			return nil
		}
		ic := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		r := &Request{tree: t, name: ic.name, fd: ic.fd, files: ic.files, base: ic.cpu}
		if r.writeLimits() == nil {
			return r
		}
		t.reusable.Store(false) // something is wrong with it: no more reuse
		r.drop()
	}
}

// keep takes the cgroup ic to reuse it, if reuse is on, it is empty and
// not frozen, and there is room; it reports whether it did. With settled,
// the request already saw it empty and read its final CPU (ic.cpu) after
// that, so neither file is read again.
func (t *Tree) keep(ic idleCgroup, settled bool) bool {
	if !t.reusable.Load() {
		return false
	}
	if !settled {
		if !ic.files.idle(ic.fd) {
			return false
		}
		ic.cpu = ic.files.cpuUsage(ic.fd)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle) >= maxIdle || t.closed {
		return false
	}
	t.idle = append(t.idle, ic)
	return true
}

// drop removes a cgroup that is not to be reused after all.
func (r *Request) drop() {
	r.mu.Lock()
	fd, files := r.fd, r.files
	r.fd, r.files = -1, noFiles
	r.mu.Unlock()
	files.close()
	if fd >= 0 {
		unix.Close(fd)
		unix.Unlinkat(r.tree.scriptsFD, r.name, unix.AT_REMOVEDIR)
	}
}

// closeIdle forgets the kept cgroups, for Close, which removes them.
func (t *Tree) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, ic := range t.idle {
		ic.files.close()
		unix.Close(ic.fd)
	}
	t.idle = nil
}

// busyLocked reports whether the cgroup (or one below it) holds a process,
// and notes when it is settled (empty and not frozen); r.mu is held.
func (r *Request) busyLocked() bool {
	populated, frozen, ok := r.files.events(r.fd)
	if !ok || populated {
		return true
	}
	r.settled = !frozen
	return false
}
