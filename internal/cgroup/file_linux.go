package cgroup

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A cgroup's control files are small and read or written whole, by one
// system call each; the *at forms let a request work from its directory's
// descriptor without building paths.

// readAt reads the control file name of the cgroup whose directory fd is
// dirfd (an O_PATH descriptor is enough).
func readAt(dirfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 1024)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	return buf[:n], nil
}

// writeAt writes value to a control file in one write, as the kernel
// wants it (a control file takes each write as one command).
func writeAt(dirfd int, name, value string) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

// writeFile is writeAt by path, for the few writes Setup makes.
func writeFile(path, value string) error {
	return writeAt(unix.AT_FDCWD, path, value)
}

// openDir opens a cgroup's directory for the *at calls and for
// CLONE_INTO_CGROUP; O_PATH needs no permission on the directory itself.
func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// field returns the value of "key value" line key in a flat-keyed control
// file (cpu.stat, memory.events, cgroup.events), and whether it was there.
func field(b []byte, key string) (int64, bool) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			n, err := strconv.ParseInt(string(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// words reads a space-separated list file (cgroup.controllers,
// cgroup.subtree_control) into a set.
func words(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, w := range strings.Fields(string(b)) {
		set[w] = true
	}
	return set, nil
}

// populated reports whether a cgroup or any of its descendants holds a
// process (cgroup.events).
func populated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	n, _ := field(b, "populated")
	return n != 0
}
