package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// credentials are who fcgi-wrap runs its scripts as.
type credentials struct {
	uid, gid int
	groups   []int
	// drop says a setuid is needed: fcgi-wrap runs as root. False when it
	// already runs as --user (systemd's User=, or a config file shared by
	// a root start and a unit).
	drop bool
}

// checkPrivileges is the rule on identity, applied before anything is
// bound and by `fcgi-wrap check`: scripts never run as root unless
// --allow-root says so, and --user can only be honoured by a root start
// or by a process that already is that user. nil credentials: no --user.
func checkPrivileges(st *Startup) (*credentials, error) {
	euid := os.Geteuid()
	if st.User == "" {
		switch {
		case st.Group != "":
			return nil, errors.New("--group needs --user")
		case euid == 0 && !st.AllowRoot:
			return nil, errors.New("refusing to run scripts as root: pass --user NAME to drop privileges, or --allow-root")
		}
		return nil, nil
	}
	uid, gid, groups, err := lookupCredentials(st.User, st.Group)
	if err != nil {
		return nil, err
	}
	if uid == 0 && !st.AllowRoot {
		return nil, fmt.Errorf("--user %s is root: refusing to run scripts as root without --allow-root", st.User)
	}
	switch {
	case euid == 0:
		return &credentials{uid: uid, gid: gid, groups: groups, drop: true}, nil
	case euid == uid && (st.Group == "" || gid == os.Getegid()):
		return &credentials{uid: uid, gid: gid, groups: groups}, nil
	}
	return nil, fmt.Errorf("--user %s needs fcgi-wrap to start as root (it runs as uid %d)", st.User, euid)
}

// dropPrivileges runs after the sockets are bound and the files opened: a
// root fcgi-wrap becomes --user/--group (with that user's supplementary
// groups) for good, so every script it starts runs unprivileged. Go
// applies setuid to every thread of the process (since Go 1.16), so no
// thread keeps root. The log files fcgi-wrap created are given to that
// user first, so that SIGUSR1 can still reopen them.
func dropPrivileges(s *Startup, files []*reopenFile, log hclog.Logger) error {
	cred, err := checkPrivileges(s)
	if err != nil || cred == nil || !cred.drop {
		return err
	}
	for _, f := range files {
		if err := f.giveTo(cred.uid, cred.gid); err != nil {
			return err
		}
	}
	if s.RunAs == "owner" {
		return dropKeepingCaps(cred, log) // caps_linux.go
	}
	if err := syscall.Setgroups(cred.groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(cred.gid); err != nil {
		return fmt.Errorf("setgid %d: %w", cred.gid, err)
	}
	if err := syscall.Setuid(cred.uid); err != nil {
		return fmt.Errorf("setuid %d: %w", cred.uid, err)
	}
	log.Info("dropped privileges", "user", s.User, "uid", cred.uid, "gid", cred.gid)
	return nil
}

func lookupCredentials(userName, groupName string) (uid, gid int, groups []int, err error) {
	u, err := user.Lookup(userName)
	if err != nil {
		if u, err = user.LookupId(userName); err != nil {
			return 0, 0, nil, fmt.Errorf("--user %q: no such user", userName)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if groupName != "" {
		if gid, err = lookupGroup(groupName); err != nil {
			return 0, 0, nil, fmt.Errorf("--group: %w", err)
		}
	}
	ids, err := u.GroupIds()
	if err != nil {
		ids = nil
	}
	groups = []int{gid}
	for _, id := range ids {
		if g, err := strconv.Atoi(id); err == nil && g != gid {
			groups = append(groups, g)
		}
	}
	return uid, gid, groups, nil
}
