package spawner

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// StartError says why a program could not be started. Err is the errno the
// kernel gave (syscall.ENOENT, EACCES, ENOEXEC, ...) when there is one, so
// errors.Is(err, syscall.ENOENT) works on a *StartError. Its Error is the
// one description of the failure: it names the errno and the file at fault.
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
	// Trampoline is set when the program was to start through the rlimit
	// trampoline (Config.Rlimits), and it is the trampoline, this program's
	// own executable run again, that could not be started: Err is about
	// it, not about Path.
	Trampoline bool
}

func (e *StartError) Error() string {
	msg := "spawner: start " + e.Path + ": "
	switch {
	case e.Dir != "":
		msg += "working directory " + e.Dir + ": "
	case e.Interp != "":
		msg += "#! interpreter " + quoteCR(e.Interp) + ": "
	case e.Trampoline:
		msg += "rlimit trampoline (this program's own executable, " + TrampolineName + "): "
	}
	msg += e.Err.Error()
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return msg
	}
	name := unix.ErrnoName(errno)
	if name == "" {
		return msg
	}
	if e.Dir == "" && e.Interp == "" && !e.Trampoline {
		if h := programHint(errno); h != "" {
			return msg + " (" + name + ": " + h + ")"
		}
	}
	if strings.HasSuffix(e.Interp, "\r") {
		return msg + " (" + name + ": " + crHint + ")"
	}
	return msg + " (" + name + ")"
}

// crHint explains an interpreter name that ends in a carriage return: the
// script was saved with DOS line endings, so the kernel looks for
// "/bin/sh\r", which no system has.
const crHint = "the #! line ends in a carriage return (DOS line endings); convert the script with dos2unix or sed -i 's/\\r$//'"

// quoteCR quotes an interpreter name that holds a carriage return, which
// would otherwise be invisible in the log (or move its cursor).
func quoteCR(interp string) string {
	if strings.ContainsRune(interp, '\r') {
		return strconv.Quote(interp)
	}
	return interp
}

// programHint says which file an errno from execve of a program most
// likely means, where the errno alone leaves it open.
func programHint(errno syscall.Errno) string {
	switch errno {
	case syscall.ENOENT:
		return "the program, its #! interpreter or its ELF loader is missing"
	case syscall.ENOEXEC:
		return "no #! line and not a binary this system runs"
	case syscall.EACCES:
		return "not executable, or a directory on the way is not searchable"
	}
	return ""
}

func (e *StartError) Unwrap() error { return e.Err }

// diagnose fills in Dir, Trampoline or Interp after a failed start; dir is
// the working directory the caller asked for ("" if it left the default,
// the program's own directory, whose absence just means the program is
// missing), and trampoline says whether the exec was the trampoline's.
// It runs only on the failure path, so its extra system calls cost the
// fast path nothing.
func (e *StartError) diagnose(dir string, trampoline bool) {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return
	}
	switch {
	// The child changes directory before it execs, so a bad directory
	// fails the same way a bad program does.
	case (errno == syscall.ENOENT || errno == syscall.ENOTDIR || errno == syscall.EACCES) &&
		dir != "" && notDir(dir):
		e.Dir = dir
	case trampoline:
		e.Trampoline = true
	case errno == syscall.ENOENT:
		e.Interp = interpreter(e.Path)
	}
}

// interpreter returns the interpreter on the #! line of the file at p, or
// "" if it has none or cannot be read. When it cannot, the program itself
// is missing; Error's hint still covers the rare case that it vanished in
// between.
func interpreter(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	var buf [256]byte
	n, _ := io.ReadFull(f, buf[:])
	return shebang(buf[:n])
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
