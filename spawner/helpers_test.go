package spawner

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; it is generous because -race
// and a busy machine slow process start-up a lot, and it is only reached
// when something is broken.
const waitLimit = 20 * time.Second

// childConfig runs the test binary in mode with args.
func childConfig(mode string, args ...string) Config {
	return Config{Path: self, Args: args, Env: []string{modeEnv + "=" + mode}}
}

// start starts cfg and makes sure the Process is closed when the test ends.
func start(t *testing.T, cfg Config) *Process {
	t.Helper()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: got error %v, want nil", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitDone waits for the leader to be reaped and checks it left no zombie.
func waitDone(t *testing.T, p *Process) Exit {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(waitLimit):
		t.Fatalf("pid %d: not done after %v", p.Pid(), waitLimit)
	}
	if st, ppid, ok := procStat(p.Pid()); ok && st == 'Z' && ppid == os.Getpid() {
		t.Errorf("pid %d: got zombie child of ours after Done, want reaped", p.Pid())
	}
	return p.Exit()
}

// readAll reads f to EOF, failing the test if that takes too long.
func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", f.Name(), err)
	}
	return string(b)
}

// readLine reads one line from f byte by byte, so nothing after it is
// consumed and lost.
func readLine(t *testing.T, f *os.File) string {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	var line []byte
	var b [1]byte
	for {
		if _, err := f.Read(b[:]); err != nil {
			t.Fatalf("read line from %s after %q: %v", f.Name(), line, err)
		}
		if b[0] == '\n' {
			return string(line)
		}
		line = append(line, b[0])
	}
}

// procStat returns a process's state letter and parent pid from
// /proc/<pid>/stat; ok is false if there is no such process.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold anything; the
	// fields we want follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// waitDead polls until pid is gone or a zombie (an orphan's zombie waits for
// init, which need not reap promptly in a container).
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st, _, ok := procStat(pid)
		if !ok || st == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: got state %c after %v, want dead", pid, st, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != 'Z'
}

// lines splits output into lines, dropping the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// childPids lists the pids whose parent is this process, zombies included.
func childPids() []int {
	ents, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(pid); ok && ppid == os.Getpid() {
			kids = append(kids, pid)
		}
	}
	return kids
}
