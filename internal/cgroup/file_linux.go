package cgroup

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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

// controlFiles are a request cgroup's cgroup.events and cpu.stat, opened on
// first use and kept open while the cgroup is (also across its reuse):
// every request reads both, and a pread of an open file is one system call
// where openat, read and close are three. -1: not open yet.
type controlFiles struct {
	eventsFd, cpuFd int
}

var noFiles = controlFiles{eventsFd: -1, cpuFd: -1}

// events reads cgroup.events: whether the cgroup holds a process and
// whether it is frozen; ok is false if it cannot be read.
func (f *controlFiles) events(dirfd int) (populated, frozen, ok bool) {
	var buf [controlFileMax]byte
	b, err := preadAt(dirfd, "cgroup.events", &f.eventsFd, buf[:])
	p, ok1 := field(b, "populated")
	z, ok2 := field(b, "frozen")
	return p != 0, z != 0, err == nil && ok1 && ok2
}

// idle reports whether the cgroup is empty and not frozen.
func (f *controlFiles) idle(dirfd int) bool {
	populated, frozen, ok := f.events(dirfd)
	return ok && !populated && !frozen
}

// cpuUsage is the CPU that the cgroup's processes have used (cpu.stat
// usage_usec), counted since the cgroup was made; 0 if it cannot be read.
func (f *controlFiles) cpuUsage(dirfd int) time.Duration {
	var buf [controlFileMax]byte
	b, err := preadAt(dirfd, "cpu.stat", &f.cpuFd, buf[:])
	if err != nil {
		return 0
	}
	usec, _ := field(b, "usage_usec")
	return time.Duration(usec) * time.Microsecond
}

func (f *controlFiles) close() {
	for _, fd := range []*int{&f.eventsFd, &f.cpuFd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// testHookControlRead, if set, sees every read of a kept-open control
// file, and whether it had to be opened first.
var testHookControlRead func(name string, open bool)

// controlFileMax bounds the control files read per request: cgroup.events
// is two lines and cpu.stat under 400 bytes. Their callers read them into
// a buffer of this size on the stack, as every request reads both.
const controlFileMax = 1024

// preadAt reads the control file name under dirfd from its start through
// *fd into buf, opening it first if *fd is -1. A control file is generated
// afresh for each read from offset 0, so the open file serves every later
// read.
func preadAt(dirfd int, name string, fd *int, buf []byte) ([]byte, error) {
	if testHookControlRead != nil {
		testHookControlRead(name, *fd < 0)
	}
	if *fd < 0 {
		f, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		*fd = f
	}
	n, err := unix.Pread(*fd, buf, 0)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	return buf[:n], nil
}
