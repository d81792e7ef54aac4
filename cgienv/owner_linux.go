package cgienv

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// OwnerRules are the conditions under which --run-as owner runs a script
// as its file's owner, after Apache's suexec: no privileged owner, and
// nobody but the owner able to change the program or swap it.
type OwnerRules struct {
	MinUID int // owners below this uid are refused (--min-uid); uid 0 always is
	MinGID int // primary groups below this gid are refused (--min-gid); gid 0 always is
}

// Owner is whom a script runs as: its file's owner, with that user's
// primary group and supplementary groups.
type Owner struct {
	UID, GID int
	Groups   []int // supplementary, from the user database
}

// UserLookup returns a user's primary group and supplementary groups from
// the user database, or an error if the uid has no entry.
type UserLookup func(uid int) (gid int, groups []int, err error)

// CheckOwner decides whom s runs as under --run-as owner, or refuses it
// with a 403 *Error whose reason names the rule: the owner or the owner's
// primary group is root or below the minimum, the script is setuid or
// setgid, the script or a directory it is reached through is writable by
// anyone but the owner, or such a directory belongs to someone else. Both
// the directory the server named and the one its symlinks lead to count:
// either can be used to swap the file. (The script lies inside --root
// already: Resolve saw to that.)
func CheckOwner(s Script, rules OwnerRules, lookup UserLookup) (Owner, error) {
	fi, err := os.Stat(s.Path)
	if err != nil {
		return Owner{}, forbidden("run-as owner: cannot stat "+s.Path, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	uid := int(st.Uid)
	mode := fi.Mode()
	switch {
	case mode&(fs.ModeSetuid|fs.ModeSetgid) != 0:
		return Owner{}, forbidden("run-as owner: setuid or setgid bit set: "+s.Path, nil)
	case uid == 0:
		return Owner{}, forbidden("run-as owner: owned by root (uid 0): "+s.Path, nil)
	case uid < rules.MinUID:
		return Owner{}, forbidden(fmt.Sprintf("run-as owner: owner uid %d is below --min-uid %d: %s", uid, rules.MinUID, s.Path), nil)
	case mode&0o022 != 0:
		return Owner{}, forbidden(fmt.Sprintf("run-as owner: writable by others than its owner (mode %04o): %s", mode.Perm(), s.Path), nil)
	}
	if err := checkOwnerDirs(s.Path, uid); err != nil {
		return Owner{}, err
	}
	gid, groups, err := lookup(uid)
	switch {
	case err != nil:
		return Owner{}, forbidden(fmt.Sprintf("run-as owner: owner uid %d is not in the user database: %s", uid, s.Path), err)
	case gid == 0:
		return Owner{}, forbidden(fmt.Sprintf("run-as owner: owner uid %d's primary group is root (gid 0): %s", uid, s.Path), nil)
	case gid < rules.MinGID:
		return Owner{}, forbidden(fmt.Sprintf("run-as owner: owner uid %d's primary group gid %d is below --min-gid %d: %s", uid, gid, rules.MinGID, s.Path), nil)
	}
	return Owner{UID: uid, GID: gid, Groups: groups}, nil
}

// checkOwnerDirs refuses a script whose directory (as named, or as its
// symlinks resolve) belongs to someone other than its owner or is
// writable by anyone else.
func checkOwnerDirs(p string, uid int) error {
	dirs := []string{path.Dir(p)}
	if r, err := filepath.EvalSymlinks(p); err != nil {
		return forbidden("run-as owner: cannot resolve symlinks of "+p, err)
	} else if d := path.Dir(r); d != dirs[0] {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			return forbidden("run-as owner: cannot stat directory "+d, err)
		}
		if owner := int(fi.Sys().(*syscall.Stat_t).Uid); owner != uid {
			return forbidden(fmt.Sprintf("run-as owner: directory owned by uid %d, not by the script's owner uid %d: %s", owner, uid, d), nil)
		}
		if fi.Mode()&0o022 != 0 {
			return forbidden(fmt.Sprintf("run-as owner: directory writable by others than its owner (mode %04o): %s", fi.Mode().Perm(), d), nil)
		}
	}
	return nil
}
