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

// guardArgs is the guard's command line, which is what ps shows: awk reads
// its program from fd 3, so the listing says what the process is instead
// of spelling out the program.
var guardArgs = []string{"awk", "-v", "fcgi_wrap=group-guard", "-f", "/dev/fd/3"}

func startGroupGuard() (*groupGuard, error) { return startGroupGuardWith(nil) }

// startGroupGuardWith starts the guard with ambient capabilities: the
// CAP_KILL it needs to kill the groups of scripts that run as other users
// (--run-as owner without cgroups).
func startGroupGuardWith(ambient []uintptr) (*groupGuard, error) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		return nil, err
	}
	prog, err := programPipe(guardProgram)
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       awk,
		Args:       guardArgs,
		Stdin:      r,
		ExtraFiles: []*os.File{prog},
		Env:        []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
		// Its own process group: a Ctrl-C meant for fcgi-wrap's graceful
		// shutdown must not take the guard down first.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, AmbientCaps: ambient},
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting the group guard: %w", err)
	}
	r.Close()
	return &groupGuard{w: w, cmd: cmd}, nil
}

// programPipe returns the read end of a pipe that holds text and is then
// closed: the program is far below the pipe's 64 KiB, so the write cannot
// block, and the reader meets EOF after it.
func programPipe(text string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	_, err = w.WriteString(text)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("group guard program: %w", err)
	}
	return r, nil
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
