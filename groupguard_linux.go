package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
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
}

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

func (g *groupGuard) add(pgid int)    { g.send('+', pgid) }
func (g *groupGuard) remove(pgid int) { g.send('-', pgid) }

func (g *groupGuard) send(op byte, pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// One write per line keeps it whole (pipe writes under PIPE_BUF are
	// atomic). A failed write means the guard is gone; the scripts still
	// have Pdeathsig, so serving goes on.
	g.buf = append(strconv.AppendInt(append(g.buf[:0], op), int64(pgid), 10), '\n')
	g.w.Write(g.buf)
}

// stop ends the guard at a clean exit, after every script is gone.
func (g *groupGuard) stop() {
	g.mu.Lock()
	g.w.Close()
	g.mu.Unlock()
	g.cmd.Wait()
}
