package spawner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
// The reason goes to stderr, which the caller logs with the request.
func runTrampoline(args []string) int {
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
	fmt.Fprintf(os.Stderr, "spawner: exec %s: %v%s\n", path, err, hint(err))
	if err == syscall.ENOENT {
		return 127
	}
	return 126
}

func hint(err error) string {
	switch err {
	case syscall.ENOENT:
		return " (the program or its #! interpreter is missing)"
	case syscall.ENOEXEC:
		return " (not a binary and no #! line)"
	}
	return ""
}
