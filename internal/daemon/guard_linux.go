package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// groupGuard makes "no script outlives fcgi-wrap" hold even when fcgi-wrap
// is killed with SIGKILL. Pdeathsig only reaches a script's first process;
// a `sleep 600` started by a shell script would survive. So a small helper
// process is told the process group of every running script over a pipe.
// When fcgi-wrap dies, however it dies, the kernel closes the pipe; the
// guard reads EOF and SIGKILLs every group still listed.
//
// The guard is awk (required on Debian, present on every Unix), not
// fcgi-wrap re-executed: a second Go process cost 12 MiB of memory and a
// scheduler wake-up per message, awk a fraction of both.
type groupGuard struct {
	mu  sync.Mutex
	w   *os.File
	cmd *exec.Cmd
	buf []byte

	// removed holds "-pgid" lines not sent yet. A removal follows the
	// group's end, so it is not urgent: it rides along with the next add,
	// or goes out within removalDelay on a quiet server. That saves a
	// write and a wake-up of the guard per request, on the path to the
	// response's end. Should fcgi-wrap die first, the guard signals a few
	// groups that no longer exist, which is harmless: a group id only
	// comes back after the kernel has gone through pid_max process ids.
	removed []byte
	flush   *time.Timer
}

// removalDelay bounds how long a removal waits for an add to ride along.
const removalDelay = time.Second

// removalBatch is how many bytes of removals may wait at most.
const removalBatch = 512

// guardProgram keeps the set of live groups and kills what is left at EOF.
// A group id below 2 would mean "every process" to kill(2): never sent.
const guardProgram = `
/^\+[0-9]+$/ { g[substr($0, 2)] = 1; next }
/^-[0-9]+$/   { delete g[substr($0, 2)]; next }
END {
	for (p in g) if (p + 0 > 1) list = list " -" p
	# "kill -9 -PGID": the form every sh's kill builtin understands.
	if (list != "") system("kill -9" list " 2>/dev/null")
}`

func startGroupGuard() (*groupGuard, error) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:  awk,
		Args:  []string{"awk", guardProgram},
		Stdin: r,
		Env:   []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
		// Its own process group: a Ctrl-C meant for fcgi-wrap's graceful
		// shutdown must not take the guard down first.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting the group guard: %w", err)
	}
	r.Close()
	return &groupGuard{w: w, cmd: cmd}, nil
}

func (g *groupGuard) Add(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf = append(strconv.AppendInt(append(append(g.buf[:0], g.removed...), '+'), int64(pgid), 10), '\n')
	g.removed = g.removed[:0]
	g.writeLocked(g.buf)
}

func (g *groupGuard) Remove(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := len(g.removed) == 0
	g.removed = append(strconv.AppendInt(append(g.removed, '-'), int64(pgid), 10), '\n')
	switch {
	case len(g.removed) >= removalBatch:
		g.flushLocked()
	case g.flush == nil:
		g.flush = time.AfterFunc(removalDelay, g.flushRemovals)
	case first:
		g.flush.Reset(removalDelay)
	}
}

func (g *groupGuard) flushRemovals() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.flushLocked()
}

func (g *groupGuard) flushLocked() {
	if len(g.removed) > 0 {
		g.writeLocked(g.removed)
		g.removed = g.removed[:0]
	}
}

// writeLocked sends whole lines. A failed write means the guard is gone;
// the scripts still have Pdeathsig, so serving goes on.
func (g *groupGuard) writeLocked(lines []byte) {
	g.w.Write(lines)
}

// stop ends the guard at a clean exit, after every script is gone.
func (g *groupGuard) stop() {
	g.mu.Lock()
	// The groups are gone; listed, they would be killed at EOF.
	g.flushLocked()
	if g.flush != nil {
		g.flush.Stop()
	}
	g.w.Close()
	g.mu.Unlock()
	g.cmd.Wait()
}
