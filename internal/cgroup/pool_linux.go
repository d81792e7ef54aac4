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

// idleCgroup is an empty request cgroup kept for another request.
type idleCgroup struct {
	name string
	fd   int
	cpu  time.Duration // its cpu.stat usage when it was kept
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
		r := &Request{tree: t, name: ic.name, fd: ic.fd, base: ic.cpu}
		if r.writeLimits() == nil {
			return r
		}
		t.reusable.Store(false) // something is wrong with it: no more reuse
		r.drop()
	}
}

// keep takes the cgroup name, with its descriptor fd, to reuse it, if
// reuse is on, it is empty and not frozen, and there is room; it reports
// whether it did.
func (t *Tree) keep(name string, fd int) bool {
	if !t.reusable.Load() {
		return false
	}
	b, err := readAt(fd, "cgroup.events")
	populated, ok1 := field(b, "populated")
	frozen, ok2 := field(b, "frozen")
	if err != nil || !ok1 || !ok2 || populated != 0 || frozen != 0 {
		return false
	}
	ic := idleCgroup{name: name, fd: fd, cpu: cpuUsage(fd)}
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
	fd := r.fd
	r.fd = -1
	r.mu.Unlock()
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
		unix.Close(ic.fd)
	}
	t.idle = nil
}

// cpuUsage is the CPU that a cgroup's processes have used (cpu.stat
// usage_usec), counted since the cgroup was made.
func cpuUsage(fd int) time.Duration {
	b, err := readAt(fd, "cpu.stat")
	if err != nil {
		return 0
	}
	usec, _ := field(b, "usage_usec")
	return time.Duration(usec) * time.Microsecond
}

// busy reports whether a cgroup (or one below it) holds a process, from
// cgroup.events; a cgroup whose events cannot be read counts as busy.
func busy(fd int) bool {
	b, err := readAt(fd, "cgroup.events")
	n, ok := field(b, "populated")
	return err != nil || !ok || n != 0
}
