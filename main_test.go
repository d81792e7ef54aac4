package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// The binary under test is this test binary: testscript re-executes it as
// "fcgi-wrap" (and the helper commands) inside each script.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fcgi-wrap":     main,
		"sd-exec":       sdExecMain,
		"fcgi-wrap-env": envMain,
		"sd-notify-log": notifyLogMain,
		// Start re-executes the binary under this name to apply --rlimit.
		spawner.TrampolineName: main,
	})
}

// extraConds holds script conditions ([name] or [name:arg]) registered
// by other _test.go files of this package, as extraCmds does commands.
var extraConds = map[string]func(arg string) (bool, error){}

// extraCmds holds script commands registered by other _test.go files of
// this package (each in its init), so suites can grow without editing this
// file.
var extraCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

func TestScripts(t *testing.T) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitsock": cmdWaitSock,
		"waitfile": cmdWaitFile,
		"pidgone":  cmdPidGone,
		"signal":   cmdSignal,
		"grepwait": cmdGrepWait,
		"exits":    cmdExits,
		"setfrom":  cmdSetFrom,
	}
	for name, cmd := range extraCmds {
		cmds[name] = cmd
	}
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testscripts",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Tests run as root in CI; serving as root is refused
			// without this, which the privilege tests check by unsetting it.
			if os.Geteuid() == 0 {
				env.Setenv("FCGI_WRAP_ALLOW_ROOT", "true")
			}
			// Scripts may use the repository's files (examples/...).
			env.Setenv("REPO", repo)
			// Short kill grace and drain keep the kill tests quick.
			env.Setenv("FCGI_WRAP_KILL_GRACE", "1s")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch {
			case cond == "root":
				return os.Geteuid() == 0, nil
			case cond == "race":
				return raceEnabled, nil
			case cond == "knownraces":
				// Scripts that still lose a request now and then under
				// load run only when asked (see each script's skip).
				return os.Getenv("FCGI_WRAP_TEST_KNOWN_RACES") != "", nil
			case strings.HasPrefix(cond, "cmd:"):
				_, err := exec.LookPath(strings.TrimPrefix(cond, "cmd:"))
				return err == nil, nil
			}
			if name, arg, _ := strings.Cut(cond, ":"); extraConds[name] != nil {
				return extraConds[name](arg)
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: cmds,
	})
}

// waitFor fails the script if ok does not hold within testutil.Deadline.
func waitFor(ts *testscript.TestScript, what string, ok func() bool) {
	if !testutil.Poll(testutil.Deadline, ok) {
		ts.Fatalf("gave up after %s waiting for %s", testutil.Deadline, what)
	}
}

// exits CODE PROGRAM ARGS...: run PROGRAM and require that exact exit
// code; its stdout and stderr are kept for the next stdout/stderr checks.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			ts.Fatalf("running %s: %v", args[1], err)
		}
		got = exitErr.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// setfrom VAR FILE: set the script variable VAR to FILE's content, trimmed;
// for addresses a background process chose (port 0).
func cmdSetFrom(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: setfrom VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// waitsock URL: wait until something accepts connections at URL.
func cmdWaitSock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: waitsock URL")
	}
	addr, err := daemon.ParseSocketURL(args[0])
	ts.Check(err)
	waitFor(ts, "a listener on "+args[0], func() bool {
		c, err := net.DialTimeout(addr.Network, addr.Address, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// waitfile PATH: wait until PATH exists and, if a regular file, is not
// empty (a pid written by a script may be half there).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: waitfile PATH")
	}
	path := ts.MkAbs(args[0])
	waitFor(ts, args[0], func() bool {
		fi, err := os.Stat(path)
		return err == nil && (!fi.Mode().IsRegular() || fi.Size() > 0)
	})
}

// grepwait PATTERN FILE: wait until FILE contains PATTERN (a plain
// substring); for log lines written by a background process.
func cmdGrepWait(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: grepwait SUBSTRING FILE")
	}
	path := ts.MkAbs(args[1])
	waitFor(ts, fmt.Sprintf("%q in %s", args[0], args[1]), func() bool {
		b, err := os.ReadFile(path)
		return err == nil && bytes.Contains(b, []byte(args[0]))
	})
}

// readPids reads whitespace-separated pids from a file.
func readPids(ts *testscript.TestScript, file string) []int {
	var pids []int
	for _, f := range strings.Fields(ts.ReadFile(file)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			ts.Fatalf("%s: %q is not a pid", file, f)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		ts.Fatalf("%s holds no pid", file)
	}
	return pids
}

// alive reports whether pid is a process that has not finished: a zombie
// counts as gone, since it no longer runs (its reaping is checked apart).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// pidgone FILE: wait until every pid listed in FILE has ended.
// ! pidgone FILE: assert they are all still running now.
func cmdPidGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: [!] pidgone PIDFILE")
	}
	pids := readPids(ts, args[0])
	if neg {
		for _, pid := range pids {
			if !alive(pid) {
				ts.Fatalf("pid %d has ended, want it running", pid)
			}
		}
		return
	}
	for _, pid := range pids {
		waitFor(ts, fmt.Sprintf("pid %d to end", pid), func() bool { return !alive(pid) })
	}
}

// signal SIG PIDFILE: send SIG (TERM, INT, HUP, USR1, KILL) to the pid in
// PIDFILE; testscript's own kill knows only INT and KILL.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: signal TERM|INT|HUP|USR1|KILL PIDFILE")
	}
	sigs := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT,
		"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "KILL": syscall.SIGKILL}
	sig, ok := sigs[args[0]]
	if !ok {
		ts.Fatalf("unknown signal %q", args[0])
	}
	// A daemon writes its pid file a moment after its socket accepts.
	path := ts.MkAbs(args[1])
	waitFor(ts, args[1]+" to hold a pid", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && len(strings.Fields(string(b))) > 0
	})
	for _, pid := range readPids(ts, args[1]) {
		ts.Check(syscall.Kill(pid, sig))
	}
}

// sdExecMain stands in for systemd's socket activation: it puts a freshly
// bound unix socket on fd 3, sets LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES for
// its own pid, and execs the command, which keeps that pid.
// usage: sd-exec SOCKETPATH COMMAND ARGS...
func sdExecMain() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: sd-exec SOCKETPATH COMMAND ARGS...")
		os.Exit(2)
	}
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sd-exec:", err)
		os.Exit(1)
	}
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sd-exec:", err)
		os.Exit(1)
	}
	if err := syscall.Dup2(int(f.Fd()), 3); err != nil {
		fmt.Fprintln(os.Stderr, "sd-exec:", err)
		os.Exit(1)
	}
	env := append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=fcgi", "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	execOrExit("sd-exec", os.Args[2:], env)
}

// execOrExit replaces this process with argv, found in PATH, or says why
// it could not, as the tool called name.
func execOrExit(name string, argv, env []string) {
	path, err := exec.LookPath(argv[0])
	if err == nil {
		err = syscall.Exec(path, argv, env)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

// envMain prints its environment, one variable a line, sorted: a CGI
// script with no shell involved, for the environment tests.
func envMain() {
	env := os.Environ()
	slices.Sort(env)
	fmt.Print("Content-Type: text/plain\n\n")
	for _, kv := range env {
		fmt.Println(kv)
	}
}

// notifyLogMain stands in for systemd's notify socket: it receives
// datagrams on a unixgram socket and appends each to a file as a line.
// usage: sd-notify-log SOCKETPATH LOGFILE
func notifyLogMain() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sd-notify-log SOCKETPATH LOGFILE")
		os.Exit(2)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: os.Args[1], Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sd-notify-log:", err)
		os.Exit(1)
	}
	out, err := os.OpenFile(os.Args[2], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sd-notify-log:", err)
		os.Exit(1)
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sd-notify-log:", err)
			os.Exit(1)
		}
		out.Write(append(buf[:n:n], '\n'))
	}
}
