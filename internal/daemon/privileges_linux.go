package daemon

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// dropPrivileges runs after the sockets are bound: a root fcgi-wrap
// becomes --user/--group (with that user's supplementary groups) for good,
// so every script it starts runs unprivileged. Go applies setuid to every
// thread of the process (since Go 1.16), so no thread keeps root.
func dropPrivileges(s *Startup, log hclog.Logger) error {
	if s.User == "" && s.Group != "" {
		return fmt.Errorf("--group needs --user")
	}
	if s.User == "" {
		if os.Geteuid() == 0 && !s.AllowRoot {
			return fmt.Errorf("refusing to run scripts as root: pass --user NAME to drop privileges, or --allow-root")
		}
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("--user %s needs fcgi-wrap to start as root (it runs as uid %d)", s.User, os.Geteuid())
	}
	uid, gid, groups, err := lookupCredentials(s.User, s.Group)
	if err != nil {
		return err
	}
	if uid == 0 && !s.AllowRoot {
		return fmt.Errorf("--user %s is root: refusing to run scripts as root without --allow-root", s.User)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	log.Info("dropped privileges", "user", s.User, "uid", uid, "gid", gid)
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
