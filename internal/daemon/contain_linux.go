package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
	"github.com/fcgi-wrap/fcgi-wrap/internal/gateway"
)

// cgroupOptions are --cgroup and --cgroup-limit as package cgroup takes
// them; the tree is given to --user when fcgi-wrap will drop to it.
func cgroupOptions(st *Startup) (cgroup.Options, error) {
	opts := cgroup.Options{Mode: st.Cgroup}
	for _, raw := range st.CgroupLimits {
		l, err := cgroup.ParseLimit(raw)
		if err != nil {
			return opts, &UsageError{Err: fmt.Errorf("--cgroup-limit: %w", err)}
		}
		opts.Limits = append(opts.Limits, l)
	}
	if cred, err := checkPrivileges(st); err == nil && cred != nil && cred.drop {
		opts.Owner = &cgroup.Owner{UID: cred.uid, GID: cred.gid}
	}
	return opts, nil
}

// checkContainment is what `fcgi-wrap check` can know of --cgroup,
// --cgroup-limit and --run-as without building anything.
func checkContainment(st *Startup) error {
	opts, err := cgroupOptions(st)
	if err != nil {
		return err
	}
	return errors.Join(cgroup.Check(opts), checkRunAs(st))
}

// setupContainment builds the cgroup tree before privileges are dropped
// (creating it, and moving fcgi-wrap into it, may need root), and says in
// the log which containment is in force and why. A nil tree means process
// groups.
func setupContainment(st *Startup, log hclog.Logger) (*cgroup.Tree, error) {
	if err := checkRunAs(st); err != nil {
		return nil, err
	}
	opts, err := cgroupOptions(st)
	if err != nil {
		return nil, err
	}
	tree, why, err := cgroup.Setup(opts)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		log.Info("containment: a process group per script; descendants that leave it (setsid) are not killed with it", "why", why)
		return nil, nil
	}
	for _, dir := range tree.Removed() {
		log.Warn("killed and removed the cgroup tree of an instance that is gone", "dir", dir)
	}
	log.Info("containment: a cgroup per script", "dir", tree.Scripts(), "why", why,
		"controllers", strings.Join(tree.Controllers(), ","), "limits", strings.Join(st.CgroupLimits, ","))
	return tree, nil
}

// contain hands the gateway its cgroups and identity rules.
func (d *daemon) contain(tree *cgroup.Tree) {
	st := &d.startup
	c := gateway.Contain{
		RunAsOwner: st.RunAs == "owner",
		Owner:      cgienv.OwnerRules{MinUID: st.MinUID, MinGID: st.MinGID},
	}
	if tree != nil {
		c.NewCgroup = func() (gateway.RequestCgroup, error) {
			r, err := tree.New()
			if err != nil {
				return nil, err // not a nil *Request in the interface
			}
			return r, nil
		}
	}
	d.gateway.Contain = c
}

// closeTree kills what is left, removes the request cgroups and, where
// fcgi-wrap may still move back out, the instance.
func closeTree(tree *cgroup.Tree, log hclog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tree.Close(ctx); err != nil {
		log.Debug("cgroup tree not removed whole; the next start removes the rest", "dir", tree.Dir(), "error", err)
	}
}

// startGuard starts what kills the scripts should fcgi-wrap be killed:
// with cgroups, a guard that kills the scripts' cgroup; otherwise the
// process-group guard, told of every script. The returned stop is called
// at a clean exit, after the scripts are gone.
func (d *daemon) startGuard(tree *cgroup.Tree) (stop func()) {
	if tree != nil {
		g, err := startCgroupGuard(tree.KillFile())
		if err != nil {
			d.log.Warn("no cgroup guard; scripts may outlive fcgi-wrap if it is killed", "error", err)
			return func() {}
		}
		return g.stop
	}
	guard, err := d.startGroupGuard()
	if err != nil {
		// Scripts still die with fcgi-wrap through Pdeathsig; only their
		// own children could outlive a SIGKILLed fcgi-wrap.
		d.log.Warn("no group guard; a script's children may outlive fcgi-wrap if it is killed", "error", err)
		return func() {}
	}
	d.gateway.Guard = guard
	return guard.stop
}
