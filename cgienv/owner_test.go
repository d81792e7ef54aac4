package cgienv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckOwner: each --run-as owner rule refuses with a 403 that names
// it, and a script that passes them all runs as its owner with the
// owner's groups from the user database. Files are made as root and given
// to made-up uids: the rules read ownership, no such user need exist.
func TestCheckOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to other uids needs root")
	}
	const alice, bob = 2001, 2002
	users := map[int][2]int{alice: {2001, 0}, bob: {100, 0}, 1500: {0, 0}}
	lookup := func(uid int) (int, []int, error) {
		u, ok := users[uid]
		if !ok {
			return 0, nil, errors.New("unknown")
		}
		groups := []int{u[0], 3000}
		return u[0], groups, nil
	}
	rules := OwnerRules{MinUID: 1000, MinGID: 1000}
	tests := []struct {
		name                string
		owner, dirOwner     int
		mode, dirMode       os.FileMode
		symlinkFromOtherDir bool
		want                string // "" for accepted
	}{
		{"accepted", alice, alice, 0o755, 0o755, false, ""},
		{"root", 0, 0, 0o755, 0o755, false, "owned by root (uid 0)"},
		{"below min uid", 33, 33, 0o755, 0o755, false, "owner uid 33 is below --min-uid 1000"},
		{"group below min gid", bob, bob, 0o755, 0o755, false, "primary group gid 100 is below --min-gid 1000"},
		{"primary group root", 1500, 1500, 0o755, 0o755, false, "primary group is root (gid 0)"},
		{"not in the user database", 4242, 4242, 0o755, 0o755, false, "owner uid 4242 is not in the user database"},
		{"script group-writable", alice, alice, 0o775, 0o755, false, "writable by others than its owner (mode 0775)"},
		{"directory other-writable", alice, alice, 0o755, 0o757, false, "directory writable by others than its owner (mode 0757)"},
		{"directory of someone else", alice, bob, 0o755, 0o755, false, "directory owned by uid 2002, not by the script's owner uid 2001"},
		{"setuid", alice, alice, 0o755 | os.ModeSetuid, 0o755, false, "setuid or setgid bit set"},
		{"setgid", alice, alice, 0o755 | os.ModeSetgid, 0o755, false, "setuid or setgid bit set"},
		{"named through someone else's directory", alice, alice, 0o755, 0o755, true, "directory owned by uid 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "d")
			must(t, os.Mkdir(dir, 0o755))
			p := filepath.Join(dir, "x.cgi")
			must(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
			must(t, os.Chown(p, tt.owner, tt.owner))
			must(t, os.Chmod(p, tt.mode))
			must(t, os.Chown(dir, tt.dirOwner, tt.dirOwner))
			must(t, os.Chmod(dir, tt.dirMode))
			named := p
			if tt.symlinkFromOtherDir {
				named = filepath.Join(top, "link.cgi") // top is root's
				must(t, os.Symlink(p, named))
			}
			got, err := CheckOwner(Script{Path: named, Dir: filepath.Dir(named)}, rules, lookup)
			if tt.want == "" {
				if err != nil || got.UID != alice || got.GID != 2001 || len(got.Groups) != 2 {
					t.Fatalf("got %+v, %v; want uid %d gid 2001 with 2 groups", got, err, alice)
				}
				return
			}
			var refused *Error
			if !errors.As(err, &refused) || refused.Status != 403 || !strings.Contains(refused.Reason, tt.want) {
				t.Fatalf("got %+v, %v; want a 403 saying %q", got, err, tt.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
