package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

// guardArg is the hidden argument that turns fcgi-wrap into its own group
// guard. It is not a subcommand: nobody should type it.
const guardArg = "__fcgi-wrap-group-guard"

// groupGuard makes "no script outlives fcgi-wrap" hold even when fcgi-wrap
// is killed with SIGKILL. Pdeathsig only reaches a script's first process;
// a `sleep 600` started by a shell script would survive. So a small helper
// process (fcgi-wrap itself, re-executed) is told the process group of
// every running script over a pipe. When fcgi-wrap dies, however it dies,
// the kernel closes the pipe; the guard reads EOF and SIGKILLs every group
// still listed.
type groupGuard struct {
	mu  sync.Mutex
	w   *os.File
	cmd *exec.Cmd
}

func startGroupGuard() (*groupGuard, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:  exe,
		Args:  []string{"fcgi-wrap", guardArg},
		Stdin: r,
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
	// One write per message keeps each line whole (pipe writes under
	// PIPE_BUF are atomic). A failed write means the guard is gone; the
	// scripts still have Pdeathsig, so serving goes on.
	g.w.Write(strconv.AppendInt([]byte{op}, int64(pgid), 10))
	g.w.Write([]byte{'\n'})
}

// stop ends the guard at a clean exit, after every script is gone.
func (g *groupGuard) stop() {
	g.mu.Lock()
	g.w.Close()
	g.mu.Unlock()
	g.cmd.Wait()
}

// runGroupGuard is the guard process: collect groups until stdin ends,
// then kill whatever is left.
func runGroupGuard() {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	groups := map[int]bool{}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		line := lines.Text()
		if len(line) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	for pgid := range groups {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	os.Exit(0)
}
