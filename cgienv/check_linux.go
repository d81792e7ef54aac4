package cgienv

import "golang.org/x/sys/unix"

// executable asks the kernel whether our effective ids may execute p, so
// ACLs, root's rules and noexec mounts count as they will at exec time.
func executable(p string) error {
	lookedUp(p)
	return unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS)
}
