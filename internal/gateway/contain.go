package gateway

import (
	"context"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// Contain is how scripts are contained and whom they run as. It follows
// from what fcgi-wrap set up at start (its cgroup tree, the capabilities
// it kept), so a reload never changes it. The zero value runs every
// script as fcgi-wrap's own user, in its process group only.
type Contain struct {
	// NewCgroup makes the cgroup a request's script starts in, one per
	// request; nil: no cgroups.
	NewCgroup func() (RequestCgroup, error)
	// RunAsOwner runs each script as its file's owner, under Owner's
	// rules (--run-as owner); false: as fcgi-wrap's user.
	RunAsOwner bool
	Owner      cgienv.OwnerRules
	// LookupUser finds an owner's groups; nil: the system's user
	// database (os/user).
	LookupUser cgienv.UserLookup
}

// RequestCgroup is one request's cgroup (internal/cgroup.Request).
type RequestCgroup interface {
	spawner.Cgroup
	Usage() cgroup.Usage
	Remove(ctx context.Context) error
}

// cgroupRemoveWait bounds the removal of a request's cgroup: its processes
// were killed, and die within milliseconds unless stuck in the kernel. A
// cgroup still there after it is removed at shutdown, or by the next
// start.
const cgroupRemoveWait = 5 * time.Second

// running is what the status page shows of a running script beyond what
// the pool knows.
type running struct {
	uid int
	cg  RequestCgroup // nil: no cgroup
}

// identity decides whom the script runs as: nil (fcgi-wrap's own user),
// or its owner under --run-as owner. A refusal has been answered when it
// reports false.
func (g *Gateway) identity(s *Settings, req *wire.Request, script cgienv.Script, out *countingWriter, rec *observe.Record, log hclog.Logger) (*syscall.Credential, bool) {
	rec.UID = g.euid()
	if !g.Contain.RunAsOwner {
		return nil, true
	}
	lookup := g.Contain.LookupUser
	if lookup == nil {
		lookup = lookupUser
	}
	owner, err := cgienv.CheckOwner(script, g.Contain.Owner, lookup)
	if err != nil {
		status, why := 500, err.Error()
		if refused, ok := err.(*cgienv.Error); ok {
			status, why = refused.Status, refusal(refused)
		}
		log.Warn("script refused", "status", status, "reason", why, "uri", rec.URI)
		rec.Outcome = "refused"
		fail(s, req, out, rec, status, why)
		return nil, false
	}
	rec.UID = owner.UID
	groups := make([]uint32, len(owner.Groups))
	for i, gid := range owner.Groups {
		groups[i] = uint32(gid)
	}
	return &syscall.Credential{Uid: uint32(owner.UID), Gid: uint32(owner.GID), Groups: groups}, true
}

// lookupUser reads a user's primary and supplementary groups from the
// system's user database.
func lookupUser(uid int) (int, []int, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return 0, nil, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return 0, nil, err
	}
	groups := []int{gid}
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil && n != gid {
			groups = append(groups, n)
		}
	}
	return gid, groups, nil
}

// newCgroup makes the script's cgroup, or nil without cgroups.
func (r *run) newCgroup() (RequestCgroup, error) {
	if r.g.Contain.NewCgroup == nil {
		return nil, nil
	}
	return r.g.Contain.NewCgroup()
}

// removeCgroup removes the script's cgroup once its processes are gone.
func (r *run) removeCgroup(cg RequestCgroup) {
	ctx, cancel := context.WithTimeout(context.Background(), cgroupRemoveWait)
	defer cancel()
	if err := cg.Remove(ctx); err != nil {
		r.log.Warn("request cgroup not removed; it goes at shutdown", "error", err)
	}
}

// track lists the running script for the status page until the returned
// function is called.
func (r *run) track(pid int, cg RequestCgroup) (untrack func()) {
	r.g.running.Store(pid, &running{uid: r.rec.UID, cg: cg})
	return func() { r.g.running.Delete(pid) }
}

// account records what the script used: from its cgroup, every process it
// started; without one, what the kernel reported with its exit. A script
// the OOM killer ended is logged as such, as that is why it failed.
func (r *run) account(proc *spawner.Process, cg RequestCgroup) {
	if cg == nil {
		r.rec.CPU = proc.CPUTime()
		return
	}
	u := cg.Usage()
	r.rec.CPU, r.rec.MemPeak = u.CPU, u.MemPeak
	if u.OOMKills > 0 {
		r.log.Warn("script killed by the OOM killer: memory.max reached", "oom_kills", u.OOMKills, "mem_peak", u.MemPeak, "pid", proc.Pid())
	}
}

// usageOf is a running script's uid and usage so far, for the status
// page; ok is false for a pid that is not a running script.
func (g *Gateway) usageOf(pid int) (uid int, u cgroup.Usage, measured, ok bool) {
	v, found := g.running.Load(pid)
	if !found {
		return 0, u, false, false
	}
	rs := v.(*running)
	if rs.cg == nil {
		return rs.uid, u, false, true
	}
	return rs.uid, rs.cg.Usage(), true, true
}
