package spawner

import (
	"os"
	"syscall"
	"time"
)

// Config says how to start one program. The zero value of every field is a
// usable default except Path.
type Config struct {
	// Path is the program to run; it must be absolute. argv[0] is Path.
	Path string
	// Args are the arguments after argv[0].
	Args []string
	// Env is the child's exact environment, "K=V" entries. nil means an
	// empty environment, never the parent's. A later duplicate key wins.
	Env []string
	// Dir is the working directory; "" means filepath.Dir(Path).
	Dir string
	// NoStdin gives the child /dev/null as its stdin instead of a pipe, for
	// a caller that knows there is no input: Process.Stdin is then nil.
	NoStdin bool
	// Stdin, if set, is the child's stdin instead of a pipe: a file the
	// caller has filled (a spooled request body), so the child may read it
	// at its own pace, or even seek. Process.Stdin is then nil and NoStdin
	// does not matter. The child gets its own descriptor; the caller still
	// closes this one. nil means a pipe, or /dev/null with NoStdin.
	Stdin *os.File
	// Data also opens a pipe whose read end is the child's fd 3 (the
	// FastCGI Filter role's FCGI_DATA stream); false leaves fd 3 closed.
	Data bool
	// Credential runs the child as this uid/gid with these supplementary
	// groups (an empty Groups clears them, unless NoSetGroups); nil runs it
	// as ourselves.
	Credential *syscall.Credential
	// Rlimits are applied to the child only, never to us; nil leaves the
	// child with our limits.
	Rlimits []Rlimit
	// KillGrace is the time between SIGTERM and SIGKILL when the group is
	// killed; 0 sends SIGKILL at once.
	KillGrace time.Duration
	// PipeSize is the stdout pipe's buffer in bytes (fcntl F_SETPIPE_SZ);
	// 0 means 1 MiB, negative leaves the kernel's default (64 KiB). If the
	// kernel refuses the size, a smaller one is used silently.
	PipeSize int
	// GrowStdoutLater leaves the stdout pipe at the kernel's default until
	// Process.GrowStdout, for a caller that grows it once output fills
	// the default: most responses fit, and the larger buffer costs a
	// system call and a kernel allocation per start.
	GrowStdoutLater bool
	// Cgroup, if set, is the cgroup v2 the child starts in: clone3 puts
	// it there before its first instruction, so neither it nor anything
	// it starts ever runs outside. Kill's SIGKILL then also kills the
	// whole cgroup, which reaches the descendants that left the process
	// group (setsid). nil: the process group is all there is.
	Cgroup Cgroup
	// StdinPipeSize is the stdin pipe's buffer in bytes; 0 leaves the
	// kernel's default (64 KiB). Worth raising for a large request body:
	// fewer, larger writes and wake-ups while it streams in.
	StdinPipeSize int
}
