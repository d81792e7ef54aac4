package gateway

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// spoolFile opens a file without a name in dir ("": os.TempDir()) for a
// request body: with O_TMPFILE where the filesystem has it, else a named
// file removed at once. Either way nothing is left behind, whatever
// becomes of fcgi-wrap, and the space is freed once the script and we
// have closed it.
func spoolFile(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, "(spooled request body)")), nil
	}
	// Filesystems without O_TMPFILE say EOPNOTSUPP; kernels before 3.11
	// took the flag for O_DIRECTORY and say EISDIR.
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	return namedSpoolFile(dir)
}

// namedSpoolFile is spoolFile's way where O_TMPFILE is missing.
func namedSpoolFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "fcgi-wrap-body-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
