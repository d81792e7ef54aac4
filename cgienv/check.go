package cgienv

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// check applies the operator's policy to the regular file p, as f
// describes it. Roots bind only dynamic mode: a fixed script is the
// operator's own choice.
func check(p string, f found, opts ResolveOptions, dynamic bool) error {
	if len(opts.Exts) > 0 && !hasExt(p, opts.Exts) {
		return forbidden("name does not end in an allowed extension (--ext): "+p, nil)
	}
	needRoots := dynamic && len(opts.Roots) > 0
	resolved := p
	var dir dirMode
	if needRoots || len(opts.Allow) > 0 || opts.StrictPerms {
		r, d, err := evalSymlinks(p, f)
		if err != nil {
			return forbidden("cannot resolve symlinks of "+p, err)
		}
		resolved, dir = r, d
	}
	if needRoots && !inRoots(resolved, opts.Roots) {
		return forbidden("outside --root: "+p+" (resolves to "+resolved+")", nil)
	}
	if len(opts.Allow) > 0 && !allowed(resolved, opts.Allow) {
		return forbidden("not matched by --allow: "+p+" (resolves to "+resolved+")", nil)
	}
	if err := runnable(p, opts); err != nil {
		return err
	}
	if opts.StrictPerms {
		return strictPerms(p, resolved, f.mode, dir)
	}
	return nil
}

func hasExt(p string, exts []string) bool {
	base := path.Base(p)
	for _, e := range exts {
		if e != "" && len(base) > len(e) && strings.HasSuffix(base, e) {
			return true
		}
	}
	return false
}

func inRoots(resolved string, roots []string) bool {
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil || !filepath.IsAbs(r) {
			continue // a root that is gone or relative confines nothing in
		}
		if r == "/" || strings.HasPrefix(resolved, r+"/") {
			return true
		}
	}
	return false
}

func allowed(resolved string, patterns []string) bool {
	for _, pat := range patterns {
		if matchPath(pat, resolved) {
			return true
		}
		// An operator writes the path they know, which may run through a
		// symlinked directory (/srv -> /data/srv); resolve that part.
		dir, file := path.Split(pat)
		if dir == "" || strings.ContainsAny(dir, `*?[\`) {
			continue
		}
		rdir, err := filepath.EvalSymlinks(dir)
		if err != nil || rdir == path.Clean(dir) {
			continue
		}
		if matchPath(path.Join(rdir, file), resolved) {
			return true
		}
	}
	return false
}

// matchPath reports whether p is pattern exactly or matches it as a glob;
// a malformed glob matches nothing.
func matchPath(pattern, p string) bool {
	if pattern == p {
		return true
	}
	if !strings.ContainsAny(pattern, `*?[\`) {
		// No glob: path.Match could only say the same, at several times
		// the cost (--drop-param is tried on every param).
		return false
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

// strictPerms refuses a script that anyone but its owner could replace or
// that runs with someone else's privileges. Both the directory the server
// named and the one the symlinks lead to are checked: either can be used to
// swap the file. dir, when known, is the mode of the one directory there
// is then, as p has no symlink.
func strictPerms(p, resolved string, m fs.FileMode, dir dirMode) error {
	switch {
	case m&fs.ModeSetuid != 0:
		return forbidden("setuid: "+p+" (chmod u-s it, or allow it with --no-strict-perms)", nil)
	case m&fs.ModeSetgid != 0:
		return forbidden("setgid: "+p+" (chmod g-s it, or allow it with --no-strict-perms)", nil)
	case m&0o002 != 0:
		return forbidden("writable by others: "+p+" (chmod o-w it, or allow it with --no-strict-perms)", nil)
	case m&0o020 != 0:
		return forbidden("writable by group: "+p+" (chmod g-w it, or allow it with --no-strict-perms)", nil)
	}
	dirs := []string{path.Dir(p)}
	if d := path.Dir(resolved); d != dirs[0] {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		mode := dir.mode
		if !dir.known {
			lookedUp(d)
			ds, err := os.Stat(d)
			if err != nil {
				return forbidden("cannot stat directory "+d, err)
			}
			mode = ds.Mode()
		}
		if mode&0o002 != 0 && mode&fs.ModeSticky == 0 {
			return forbidden("in a directory writable by others: "+d+" (chmod o-w or chmod +t it, or allow it with --no-strict-perms)", nil)
		}
	}
	return nil
}
