package spawner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// TrampolineName is the argv[0] with which Start re-executes the running
// program to apply rlimits. A program that starts processes with Rlimits
// must call RunTrampolineIfAsked first thing in main.
//
// Go's os/exec runs nothing of ours between fork and exec, so limits set
// from outside (prlimit after Start) would leave the script unlimited for
// its first moments, enough for a shell to read its own limits or fork.
// The trampoline is this program run once more: it sets the limits on
// itself, then execs the script in place, so the script starts limited.
// It costs one extra exec, only for requests that have limits.
const TrampolineName = "fcgi-wrap-exec-limited"

// trampolineFd is where the child finds the trampoline's executable,
// after stdio and the data pipe; trampolinePath execs it from there, and
// the trampoline closes it before it execs the program. It is handed down
// in the fork's list of files: named by its number in our process, it
// could be covered in the child, where the fork moves its own error pipe
// to the first number above the ones it is given.
const (
	trampolineFd   = 4
	trampolinePath = "/proc/self/fd/4"
)

// exe is the running executable, opened on first use and kept. The file
// its path names is not necessarily what runs: an upgrade deletes it or
// renames a new one over it, and then the trampoline would be missing or
// a stranger. /proc/self/exe opens what this process runs, whatever
// became of its name. O_PATH needs no read permission, and exec through
// the descriptor checks execute permission as exec by path would.
var exe struct {
	mu     sync.Mutex
	fd     int
	opened bool
}

// exeFd returns the kept descriptor of the running executable. A failure
// to open it is not kept: the next start tries again (EMFILE passes).
func exeFd() (int, error) {
	exe.mu.Lock()
	defer exe.mu.Unlock()
	if !exe.opened {
		fd, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: "/proc/self/exe", Err: err}
		}
		exe.fd, exe.opened = fd, true
	}
	return exe.fd, nil
}

// RunTrampolineIfAsked acts as the trampoline when this process was
// started as one, and never returns then; otherwise it returns at once.
func RunTrampolineIfAsked() {
	if filepath.Base(os.Args[0]) != TrampolineName {
		return
	}
	os.Exit(runTrampoline(os.Args[1:]))
}

// trampolineArgs is argv for the trampoline: each limit as
// RESOURCE:CUR:MAX, then "--", the program, and its arguments.
func trampolineArgs(limits []Rlimit, path string, args []string) []string {
	argv := []string{TrampolineName}
	for _, l := range limits {
		argv = append(argv, fmt.Sprintf("%d:%d:%d", l.Resource, l.Cur, l.Max))
	}
	argv = append(argv, "--", path)
	return append(argv, args...)
}

// runTrampoline returns only on failure, with the exit status a shell
// would give: 126 when the program cannot run, 127 when it is missing.
// The reason goes to stderr, which the caller logs with the request; a
// failed exec reads as the StartError that Start gives for it.
func runTrampoline(args []string) int {
	// The script must not inherit our executable.
	unix.Close(trampolineFd)
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		parts := strings.Split(args[i], ":")
		if len(parts) != 3 {
			fmt.Fprintf(os.Stderr, "spawner: bad limit %q\n", args[i])
			return 126
		}
		res, err1 := strconv.Atoi(parts[0])
		cur, err2 := strconv.ParseUint(parts[1], 10, 64)
		max, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			fmt.Fprintf(os.Stderr, "spawner: bad limit %q\n", args[i])
			return 126
		}
		if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: cur, Max: max}); err != nil {
			fmt.Fprintf(os.Stderr, "spawner: setrlimit %s: %v\n", args[i], err)
			return 126
		}
	}
	if i+1 >= len(args) {
		fmt.Fprintln(os.Stderr, "spawner: trampoline without a program")
		return 126
	}
	path := args[i+1]
	err := syscall.Exec(path, append([]string{path}, args[i+2:]...), os.Environ())
	// The working directory is already the program's: only the program
	// itself can be at fault.
	se := &StartError{Path: path, Err: err}
	se.diagnose("", false)
	fmt.Fprintln(os.Stderr, se)
	if err == syscall.ENOENT {
		return 127
	}
	return 126
}
