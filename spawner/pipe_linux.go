package spawner

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// defaultPipeSize is the stdout pipe size when Config.PipeSize is 0:
// PERF-NOTES measured streaming twice as fast with 1 MiB than with the
// kernel's 64 KiB default, and 1 MiB is also the default pipe-max-size, so
// an unprivileged wrapper gets it too.
const defaultPipeSize = 1 << 20

// minPipeSize is the kernel's default; asking for less only hurts.
const minPipeSize = 64 << 10

// pipe makes one pipe. The parent's end is non-blocking so the returned
// *os.File is pollable (read deadlines work, Close wakes a blocked Read);
// the child's end stays blocking, as programs expect of their stdio, and
// stays a bare descriptor, as only the fork needs it.
// Both ends are close-on-exec: the fork dup2s the child's end onto its
// descriptor number, which clears the flag on that copy only.
func pipe(name string, parentReads bool) (parent *os.File, child int, err error) {
	pfd, cfd, err := rawPipe(parentReads)
	if err != nil {
		return nil, -1, err
	}
	return os.NewFile(uintptr(pfd), name), cfd, nil
}

// rawPipe is pipe with the parent's end left a bare descriptor too.
func rawPipe(parentReads bool) (parent, child int, err error) {
	// Both ends start non-blocking (each is its own open file, with its
	// own flags), and the child's is set back: one fcntl instead of two.
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	pfd, cfd := fds[1], fds[0]
	if parentReads {
		pfd, cfd = fds[0], fds[1]
	}
	if err := setFileFlags(cfd, 0); err != nil {
		syscall.Close(pfd)
		syscall.Close(cfd)
		return -1, -1, os.NewSyscallError("fcntl", err)
	}
	return pfd, cfd, nil
}

// setFileFlags sets an open file's status flags (O_NONBLOCK is the only
// one our files may carry) without reading them first.
func setFileFlags(fd, flags int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return err
}

// stdoutPipeSize is the stdout pipe size cfg asks for.
func stdoutPipeSize(cfg Config) int {
	if cfg.PipeSize == 0 {
		return defaultPipeSize
	}
	return cfg.PipeSize
}

// growPipe asks for a pipe buffer of size bytes, halving on refusal (EPERM
// above pipe-max-size or past pipe-user-pages-soft for unprivileged users)
// until it reaches the default. Failure is not an error: the pipe still
// works, only slower.
func growPipe(f *os.File, size int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		for ; size > minPipeSize; size /= 2 {
			if _, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size); err == nil {
				return
			}
		}
	})
}

// pipes holds both ends of the child's stdio pipes while Start needs them.
// A child end of -1 is not open.
type pipes struct {
	stdin, stdout, data                             *os.File // parent's ends
	stderr                                          int      // parent's end, bare until Process.Stderr; -1: not open
	childStdin, childStdout, childStderr, childData int
	sharedStdin                                     int // /dev/null (NoStdin) or Config.Stdin; never closed here
}

// stdinFd is what the child gets as its stdin.
func (ps *pipes) stdinFd() uintptr {
	if ps.childStdin >= 0 {
		return uintptr(ps.childStdin)
	}
	return uintptr(ps.sharedStdin)
}

// devNull is one read-only /dev/null descriptor for every NoStdin child,
// opened on first use and kept: opening one per start would cost two
// system calls of the few a start takes.
var devNull = sync.OnceValues(func() (int, error) {
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	return fd, nil
})

func (ps *pipes) open(cfg Config) error {
	ps.childStdin, ps.childStdout, ps.childStderr, ps.childData, ps.stderr = -1, -1, -1, -1, -1
	var err error
	if cfg.Stdin != nil {
		// Like /dev/null: the child gets a dup2 of the caller's file.
		ps.sharedStdin = int(cfg.Stdin.Fd())
	} else if cfg.NoStdin {
		// The child gets a dup2 of the shared descriptor; ours stays.
		if ps.sharedStdin, err = devNull(); err != nil {
			return err
		}
	} else if ps.stdin, ps.childStdin, err = pipe("stdin", false); err != nil {
		return err
	}
	if ps.stdout, ps.childStdout, err = pipe("stdout", true); err == nil {
		ps.stderr, ps.childStderr, err = rawPipe(true)
	}
	if err == nil && cfg.Data {
		ps.data, ps.childData, err = pipe("data", false)
	}
	if err != nil {
		ps.closeChild()
		ps.closeParent()
		return err
	}
	if !cfg.GrowStdoutLater {
		growPipe(ps.stdout, stdoutPipeSize(cfg))
	}
	if cfg.StdinPipeSize > 0 && ps.stdin != nil {
		growPipe(ps.stdin, cfg.StdinPipeSize)
	}
	return nil
}

func (ps *pipes) closeChild() {
	for _, fd := range []*int{&ps.childStdin, &ps.childStdout, &ps.childStderr, &ps.childData} {
		if *fd >= 0 {
			syscall.Close(*fd)
			*fd = -1
		}
	}
}

func (ps *pipes) closeParent() {
	for _, f := range []*os.File{ps.stdin, ps.stdout, ps.data} {
		if f != nil {
			f.Close()
		}
	}
	if ps.stderr >= 0 {
		syscall.Close(ps.stderr)
	}
}
