package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a daemon gets to exit after SIGTERM before its
// whole process group is killed.
const stopGrace = 5 * time.Second

// proc is a daemon the harness started in its own process group, so that
// stopping it also stops what it forked (fcgiwrap's workers outlive their
// parent otherwise) and nothing else on the machine.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once cmd.Wait returned
	waitErr error         // valid after done
}

// running lists every proc not yet stopped, so an interrupt or a failed
// scenario can still stop them all by pid.
var running struct {
	mu    sync.Mutex
	procs map[*proc]bool
}

// startProc starts argv with its output in logPath.
func startProc(name, logPath string, argv []string, env []string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = env
	// Pdeathsig is the last resort if the harness itself is killed
	// with SIGKILL and cannot stop the daemon by pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	running.mu.Lock()
	if running.procs == nil {
		running.procs = make(map[*proc]bool)
	}
	running.procs[p] = true
	running.mu.Unlock()
	// Reaps the daemon; its owner is stop, which waits on done.
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the daemon's process group: SIGTERM, then SIGKILL after
// stopGrace. It returns once the daemon is reaped.
func (p *proc) stop() {
	running.mu.Lock()
	delete(running.procs, p)
	running.mu.Unlock()
	pgid := p.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Workers forked by the daemon may still be in the group after their
	// parent exited; they get no grace.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// stopAll stops every daemon still running, e.g. after an interrupt.
func stopAll() {
	running.mu.Lock()
	ps := make([]*proc, 0, len(running.procs))
	for p := range running.procs {
		ps = append(ps, p)
	}
	running.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// logTail is the end of the daemon's output, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// waitListening polls until network/addr accepts a connection, the daemon
// exits, or 15 s pass.
func waitListening(ctx context.Context, p *proc, network, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before listening on %s (%v): %s", p.name, addr, p.waitErr, p.logTail())
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not listening on %s after 15 s: %v", p.name, addr, err)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
