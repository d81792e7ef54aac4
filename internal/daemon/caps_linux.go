package daemon

import (
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// runAsCaps are what fcgi-wrap keeps of root under --run-as owner, once it
// runs as --user: CAP_SETUID and CAP_SETGID to start each script as its
// owner (the child sets its ids between fork and exec, with its parent's
// capabilities), and CAP_KILL because scripts then belong to other users:
// the SIGTERM that starts --kill-grace goes to their process group, which
// cgroup.kill cannot send, and without cgroups the SIGKILL too.
//
// libcap's cap package rather than capset(2) by hand: a capability set
// belongs to a thread, and a Go program has many; cap changes them on
// every thread at once (through its psx package, with or without cgo), and
// SetUID keeps the permitted set across the uid change (PR_SET_KEEPCAPS).
var runAsCaps = []cap.Value{cap.SETUID, cap.SETGID, cap.KILL}

// dropKeepingCaps is dropPrivileges for --run-as owner: fcgi-wrap becomes
// cred's user and groups, keeping runAsCaps and nothing else. A script
// still starts with no capability: it runs as a uid other than 0, and
// execve gives such a process only what the file grants.
func dropKeepingCaps(cred *credentials, log hclog.Logger) error {
	if err := cap.SetGroups(cred.gid, cred.groups...); err != nil {
		return fmt.Errorf("--run-as owner: setting groups: %w", err)
	}
	if err := cap.SetUID(cred.uid); err != nil {
		return fmt.Errorf("--run-as owner: setuid %d: %w", cred.uid, err)
	}
	if err := setCaps(nil); err != nil {
		return err
	}
	log.Info("dropped privileges, keeping what --run-as owner needs", "uid", cred.uid, "gid", cred.gid, "capabilities", "cap_setuid,cap_setgid,cap_kill")
	return nil
}

// setCaps makes runAsCaps our permitted and effective sets, and inh the
// inheritable set, on every thread.
func setCaps(inh []cap.Value) error {
	c := cap.NewSet()
	for _, f := range []cap.Flag{cap.Permitted, cap.Effective} {
		if err := c.SetFlag(f, true, runAsCaps...); err != nil {
			return err
		}
	}
	if err := c.SetFlag(cap.Inheritable, true, inh...); err != nil {
		return err
	}
	if err := c.SetProc(); err != nil {
		return fmt.Errorf("--run-as owner: keeping %s: %w", c, err)
	}
	return nil
}

// checkRunAs is the rule on --run-as owner's identity, at start and in
// `fcgi-wrap check`: a root start must name --user, since fcgi-wrap gives
// up root once bound; a start as any other user must already hold the
// capabilities (systemd's AmbientCapabilities=).
func checkRunAs(st *Startup) error {
	if st.RunAs != "owner" {
		return nil
	}
	if os.Geteuid() == 0 {
		if st.User == "" {
			return errors.New("--run-as owner needs --user: fcgi-wrap gives up root once bound, keeping only cap_setuid, cap_setgid and cap_kill")
		}
		return nil
	}
	have := cap.GetProc()
	for _, v := range runAsCaps {
		if on, _ := have.GetFlag(cap.Effective, v); !on {
			return fmt.Errorf("--run-as owner needs fcgi-wrap to start as root with --user, or to hold %s (it has %s)", v, have)
		}
	}
	return nil
}
