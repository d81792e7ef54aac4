package cgienv

import (
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// pathMax is the longest path Resolve considers. The kernel refuses longer
// ones (ENAMETOOLONG), so no script can be named by one; refusing them
// before any lookup keeps the cost of a request bounded by this length.
const pathMax = unix.PathMax

// testHookLookup, if set, sees every path Resolve hands the kernel to look
// up, so tests can count what resolving a path costs.
var testHookLookup func(name string)

func lookedUp(name string) {
	if testHookLookup != nil {
		testHookLookup(name)
	}
}

// statPath is stat(2) of p, symlinks followed.
func statPath(p string) (fs.FileMode, error) {
	lookedUp(p)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	return fileMode(st.Mode), nil
}

// found is the script file as a lookup found it.
type found struct {
	mode fs.FileMode // symlinks followed
	// plain: the path's last component is the file itself, not a symlink
	// to it; false when unknown.
	plain bool
}

// statFile is statPath, and whether p's last component is the file itself.
// Asking lstat first costs nothing when it is, as for most scripts, and
// spares evalSymlinks a lookup; a symlink takes a stat more.
func statFile(p string) (found, error) {
	lookedUp(p)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return found{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return found{mode: fileMode(st.Mode), plain: true}, nil
	}
	mode, err := statPath(p)
	return found{mode: mode}, err
}

// dirMode is the mode of a script's directory, if known.
type dirMode struct {
	mode  fs.FileMode
	known bool
}

// evalSymlinks is filepath.EvalSymlinks of p, the clean absolute path of
// the file f, and the mode of p's directory if it learnt it on the way.
// Most script paths hold no symlink, which one lstat per directory on the
// path shows, the last being p's directory's, which strictPerms would
// otherwise stat again; filepath.EvalSymlinks makes the same lstats and one
// of the file besides. A symlink, or an lstat that fails, hands the whole
// path to filepath.EvalSymlinks.
func evalSymlinks(p string, f found) (string, dirMode, error) {
	var st unix.Stat_t
	var dir dirMode
	for i := 1; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		lookedUp(p[:i])
		if unix.Lstat(p[:i], &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return evalSlow(p)
		}
		dir = dirMode{fileMode(st.Mode), true}
	}
	if !f.plain {
		lookedUp(p)
		if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return evalSlow(p)
		}
	}
	return p, dir, nil
}

func evalSlow(p string) (string, dirMode, error) {
	r, err := filepath.EvalSymlinks(p)
	return r, dirMode{}, err
}

// fileMode converts st_mode into what check and walkBack look at: the
// permission bits, setuid, setgid, sticky, and whether it is a regular
// file, a directory, or neither.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	default:
		mode |= fs.ModeIrregular
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// walkBack finds the deepest existing prefix of full that ends at a path
// component boundary after floor, and returns where it ends. The prefix
// must be a regular file (symlinks followed); what follows it is the
// PATH_INFO. Since a regular file has no children, the deepest existing
// prefix is the only candidate: finding a directory there means the script
// is missing, unless the directory is the whole path.
//
// The whole path is tried first, as it names the script itself in most
// requests: one stat.
func walkBack(full string, floor int) (int, found, error) {
	p := strings.TrimRight(full, "/")
	if len(p) <= floor {
		return 0, found{}, notFound("no such file: "+full, nil) // nothing past the floor
	}
	f, err := statFile(p)
	switch {
	case err == nil:
		i, _, err := deepest(full, len(p), f.mode)
		return i, f, err
	case isMissing(err):
		i, mode, err := walkDown(full, floor)
		return i, found{mode: mode}, err
	default:
		return 0, found{}, statError(p, err)
	}
}

// walkDown is walkBack for a path with something past the script (or
// nothing there at all). It goes forwards, looking up each component in
// the directory it reached, which it holds open (O_PATH: no permission
// needed beyond search), so each component costs one step. Stat-ing each
// prefix from the root instead, deepest first, cost a walk of the whole
// prefix per component, quadratic: a megabyte of "/." took 42 s of CPU.
func walkDown(full string, floor int) (int, fs.FileMode, error) {
	dir := unix.AT_FDCWD
	defer func() {
		if dir != unix.AT_FDCWD {
			unix.Close(dir)
		}
	}()
	i := 0 // the end of the deepest directory reached
	for {
		start := i
		for start < len(full) && full[start] == '/' {
			start++
		}
		if start == len(full) {
			break
		}
		end := strings.IndexByte(full[start:], '/')
		if end < 0 {
			end = len(full)
		} else {
			end += start
		}
		name := full[start:end]
		if name == "." {
			i = end // the directory itself
			continue
		}
		if dir == unix.AT_FDCWD {
			name = full[start-1 : end] // from the root: "/name"
		}
		lookedUp(name)
		fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			if dir != unix.AT_FDCWD {
				unix.Close(dir)
			}
			dir, i = fd, end
			continue
		case err != unix.ENOTDIR:
			return 0, 0, lookupError(full, end, err)
		}
		// There, but not a directory: the script, if anything.
		lookedUp(name)
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, 0); err != nil {
			return 0, 0, lookupError(full, end, err)
		}
		if end <= floor {
			return 0, 0, notFound("no such file: "+full, nil)
		}
		return deepest(full, end, fileMode(st.Mode))
	}
	if i <= floor {
		return 0, 0, notFound("no such file: "+full, nil)
	}
	return deepest(full, i, fs.ModeDir)
}

// deepest says what it means for the request that full[:i], of the given
// mode, is the deepest prefix of full that exists.
func deepest(full string, i int, mode fs.FileMode) (int, fs.FileMode, error) {
	switch {
	case mode.IsRegular():
		return i, mode, nil
	case !mode.IsDir():
		return 0, 0, forbidden("not a regular file: "+path.Clean(full[:i]), nil)
	case strings.Trim(full[i:], "/") == "":
		return 0, 0, forbidden("is a directory: "+path.Clean(full[:i]), nil)
	default:
		return 0, 0, notFound("no such file: "+full, nil)
	}
}

func lookupError(full string, end int, err error) *Error {
	if isMissing(err) {
		return notFound("no such file: "+full, err)
	}
	return statError(full[:end], err)
}
