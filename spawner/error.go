package spawner

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// StartError says why a program could not be started. Err is the errno the
// kernel gave (syscall.ENOENT, EACCES, ENOEXEC, ...) when there is one, so
// errors.Is(err, syscall.ENOENT) works on a *StartError.
//
// After a failure Start looks at the file system to say which file was at
// fault, because execve(2) uses ENOENT for a missing program, a missing #!
// interpreter and a missing working directory alike.
type StartError struct {
	Path string // the program
	Err  error

	// Interp is the interpreter named on Path's #! line, set when Path
	// exists but execve said ENOENT: the interpreter (or one it needs) is
	// missing.
	Interp string
	// Dir is set when the working directory does not exist or is not a
	// directory, which makes the start fail before exec.
	Dir string
}

func (e *StartError) Error() string {
	msg := "spawner: start " + e.Path + ": "
	switch {
	case e.Dir != "":
		msg += "working directory " + e.Dir + ": "
	case e.Interp != "":
		msg += "#! interpreter " + e.Interp + ": "
	}
	msg += e.Err.Error()
	switch {
	case e.Dir != "" || e.Interp != "":
	case errors.Is(e.Err, syscall.ENOENT):
		msg += " (the program or its #! interpreter or ELF loader)"
	case errors.Is(e.Err, syscall.ENOEXEC):
		msg += " (no #! line and not a binary this system runs)"
	case errors.Is(e.Err, syscall.EACCES):
		msg += " (not executable, or a directory on the way is not searchable)"
	}
	return msg
}

func (e *StartError) Unwrap() error { return e.Err }

// diagnose fills in Interp or Dir after a failed start; dir is the working
// directory the caller asked for ("" if it left the default, the program's
// own directory, whose absence just means the program is missing). It runs
// only on the failure path, so its extra system calls cost the fast path
// nothing.
func (e *StartError) diagnose(dir string) {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return
	}
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR, syscall.EACCES:
	default:
		return
	}
	// The child changes directory before it execs, so a bad directory
	// fails the same way a bad program does.
	if dir != "" && notDir(dir) {
		e.Dir = dir
		return
	}
	if errno != syscall.ENOENT {
		return
	}
	f, err := os.Open(e.Path)
	if err != nil {
		// The program itself is missing; Error's hint still covers the
		// rare case that it vanished in between.
		return
	}
	defer f.Close()
	var buf [256]byte
	n, _ := io.ReadFull(f, buf[:])
	e.Interp = shebang(buf[:n])
}

// notDir reports whether dir certainly cannot be entered because it is
// missing or not a directory (EACCES from stat proves neither).
func notDir(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return !errors.Is(err, fs.ErrPermission)
	}
	return !fi.IsDir()
}

// shebang returns the interpreter named on a "#!" first line, or "" if b
// does not start with one. Like the kernel it takes the first word after
// "#!" and optional blanks, and reads at most the bytes it was given.
func shebang(b []byte) string {
	rest, ok := bytes.CutPrefix(b, []byte("#!"))
	if !ok {
		return ""
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	rest = bytes.TrimLeft(rest, " \t")
	if i := bytes.IndexAny(rest, " \t\x00"); i >= 0 {
		rest = rest[:i]
	}
	return string(rest)
}
