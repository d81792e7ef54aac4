package cgienv

import "syscall"

// Values from <fcntl.h>; the syscall package does not export them. They are
// the same on every Linux architecture.
const (
	atFDCWD   = -0x64
	atEAccess = 0x200
)

// executable asks the kernel whether our effective ids may execute p, so
// ACLs, root's rules and noexec mounts count as they will at exec time.
func executable(p string) error {
	return syscall.Faccessat(atFDCWD, p, 0x1 /* X_OK */, atEAccess)
}
