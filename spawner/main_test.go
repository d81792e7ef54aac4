package spawner

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// modeEnv switches the test binary into one of the child programs below,
// the way net/http/cgi's tests run themselves as the CGI script.
const modeEnv = "SPAWNER_TEST_MODE"

// self is the test binary's absolute path, the program most tests start.
var self string

func TestMain(m *testing.M) {
	RunTrampolineIfAsked()
	var err error
	if self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "spawner test:", err)
		os.Exit(2)
	}
	if mode := os.Getenv(modeEnv); mode != "" {
		os.Exit(child(mode, os.Args[1:]))
	}
	code := m.Run()
	// Every test closes its Processes, and Close reaps: any child left,
	// running or zombie, is a leak.
	if kids := childPids(); code == 0 && len(kids) > 0 {
		fmt.Fprintf(os.Stderr, "spawner test: got children %v left after all tests, want none\n", kids)
		code = 1
	}
	os.Exit(code)
}

// child is the program the tests start; it returns the exit code.
func child(mode string, args []string) int {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	switch mode {
	case "echo":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "env":
		for _, kv := range os.Environ() {
			fmt.Fprintln(out, kv)
		}
	case "stdin": // what fd 0 is, and what reading it gives
		target, err := os.Readlink("/proc/self/fd/0")
		if err != nil {
			return 1
		}
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 1
		}
		// Programs expect blocking stdio: a shell's cat fails on EAGAIN.
		for fd := range 3 {
			fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
			if e != 0 || fl&syscall.O_NONBLOCK != 0 {
				fmt.Fprintf(out, "fd %d non-blocking\n", fd)
			}
		}
		fmt.Fprintf(out, "%s %d\n", target, len(b))
	case "cwd":
		wd, err := syscall.Getwd() // not os.Getwd, which trusts $PWD
		if err != nil {
			return 1
		}
		fmt.Fprintln(out, wd)
	case "exit":
		n, _ := strconv.Atoi(args[0])
		return n
	case "stderr":
		fmt.Fprint(os.Stderr, args[0])
	case "data":
		if _, err := io.Copy(os.Stdout, os.NewFile(3, "data")); err != nil {
			return 1
		}
	case "sleep": // prints "ready" only when asked: the bg mode shares its stdout
		if len(args) > 0 {
			fmt.Fprintln(out, args[0])
			out.Flush()
		}
		sleepForever()
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(out, "ready")
		out.Flush()
		sleepForever()
	case "bg":
		// A background job in the same process group that keeps stdout
		// open, like `sleep 600 &` in a shell CGI script.
		cmd := exec.Command(self)
		cmd.Env = []string{modeEnv + "=sleep"}
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(out, cmd.Process.Pid)
	case "nested":
		// Starts a grandchild through spawner, so its own death tests
		// Pdeathsig.
		p, err := Start(context.Background(), Config{Path: self, Env: []string{modeEnv + "=sleep"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(out, p.Pid())
		out.Flush()
		sleepForever()
	case "upgrade":
		return upgradeChild(out, args)
	case "escape", "spin":
		return containChild(mode, out)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		return 2
	}
	return 0
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}
