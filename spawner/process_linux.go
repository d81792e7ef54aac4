package spawner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one started program, the leader of its own process group.
// Its methods are safe for concurrent use.
type Process struct {
	pid    int // also the process group id
	grace  time.Duration
	waiter waiter // reaps the leader, under reapMu
	cgroup Cgroup // nil: the process group alone

	stdin, stdout, data *os.File

	// fileMu guards stderr, which is a bare descriptor (stderrFd) until
	// Stderr wraps it: a caller that reads it once the child is gone
	// (ReadStderrNow) never puts it in the netpoller.
	fileMu   sync.Mutex
	stderrFd int // -1 once wrapped or closed
	stderr   *os.File
	pipeSize int // for GrowStdout; 0 once grown

	done chan struct{} // closed by publish once exit and cpu are set
	exit Exit
	cpu  time.Duration // the leader's and its reaped children's CPU (rusage)

	// reapMu orders the two ways the leader is reaped: TryReap, by the
	// caller, and the reaper goroutine that Done starts. reaping is set
	// once that goroutine runs; reaped once done is closed.
	reapMu          sync.Mutex
	reaping, reaped bool

	// stopCtx unregisters the context.AfterFunc that kills the group when
	// Start's ctx ends; it stays registered after the leader exits so that
	// a cancel still ends what is left of the group.
	stopCtx func() bool

	// wg waits for the reaper goroutine (if Done started it), the ctx AfterFunc (if it ran) and
	// the grace timer's SIGKILL (if it was scheduled), so none outlives Close.
	wg sync.WaitGroup

	mu        sync.Mutex
	killed    bool        // Kill or KillNow has been called
	timer     *time.Timer // pending SIGKILL after the grace; nil if none
	groupGone bool        // kill(-pgid) said ESRCH: never signal the id again
	closed    bool        // Close has begun: never signal again
}

// Start starts cfg.Path in a new process group with fresh pipes for its
// stdin, stdout and stderr (and fd 3 if cfg.Data). It returns once the
// program has been exec'd (or failed to be: a *StartError).
//
// When ctx ends, the process group is killed as by Kill; ctx keeps this
// power until Close, even after the leader has exited.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if !filepath.IsAbs(cfg.Path) {
		return nil, fmt.Errorf("spawner: program path %q is not absolute", cfg.Path)
	}
	for _, rl := range cfg.Rlimits {
		if err := rl.check(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		dir = filepath.Dir(cfg.Path)
	}
	env, err := cleanEnv(cfg.Env)
	if err != nil {
		return nil, err
	}

	sealInherited()
	var ps pipes
	if err := ps.open(cfg); err != nil {
		return nil, err
	}
	path, argv, files, err := command(cfg, &ps)
	if err != nil {
		ps.closeChild()
		ps.closeParent()
		return nil, err
	}
	sys := &syscall.SysProcAttr{
		Setpgid: true,
		// The kernel sends Pdeathsig when the *thread* that forked
		// exits, not the process. Go threads live as long as the
		// process unless a goroutine exits while locked to one
		// (runtime.LockOSThread); a caller that starts processes from
		// such a goroutine would see them killed early.
		Pdeathsig:  syscall.SIGKILL,
		Credential: cfg.Credential,
	}
	if cfg.Cgroup != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, cfg.Cgroup.FD()
	}
	// syscall rather than os/exec: os.StartProcess would stat the
	// directory, dup the pidfd and wait for the exit in a blocking waitid
	// that ties up a thread per running script; a waiter polls the pidfd
	// instead (see waiter).
	pid, w, err := forkExec(path, argv, env, dir, files, sys)
	ps.closeChild() // the child has its copies; ours would hide EOF
	if err != nil {
		ps.closeParent()
		return nil, startError(cfg, err, len(cfg.Rlimits) > 0)
	}

	p := &Process{
		pid:      pid,
		waiter:   w,
		grace:    cfg.KillGrace,
		cgroup:   cfg.Cgroup,
		stdin:    ps.stdin,
		stdout:   ps.stdout,
		stderrFd: ps.stderr,
		data:     ps.data,
		done:     make(chan struct{}),
	}
	if cfg.GrowStdoutLater {
		p.pipeSize = stdoutPipeSize(cfg)
	}
	p.wg.Add(1) // the ctx AfterFunc; Close balances it if it never runs
	p.stopCtx = context.AfterFunc(ctx, func() {
		defer p.wg.Done()
		p.Kill()
	})
	return p, nil
}

// cleanEnv checks env for NUL bytes, which the kernel would cut the
// entries at, and drops all but the last of each name, so the child sees
// the value a reader of Config.Env expects whichever occurrence its libc
// looks up. An environment sorted by name, as cgienv.Environ makes it,
// has no name twice and is returned as it is: the map and copy of the
// general case were a tenth of the bytes allocated per tiny request.
func cleanEnv(env []string) ([]string, error) {
	if err := checkNUL(env); err != nil {
		return nil, err
	}
	if namesAscend(env) {
		return env, nil
	}
	seen := make(map[string]bool, len(env))
	kept := make([]string, 0, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		name, _, _ := strings.Cut(kv, "=")
		if !seen[name] {
			seen[name] = true
			kept = append(kept, kv)
		}
	}
	slices.Reverse(kept)
	return kept, nil
}

func checkNUL(env []string) error {
	for _, kv := range env {
		if nul := strings.IndexByte(kv, 0); nul >= 0 {
			return fmt.Errorf("spawner: environment variable %q contains NUL", kv[:nul])
		}
	}
	return nil
}

// namesAscend reports whether each entry's name sorts strictly after the
// one before it, which leaves no room for a name twice.
func namesAscend(env []string) bool {
	prev := ""
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if i > 0 && name <= prev {
			return false
		}
		prev = name
	}
	return true
}

// command is what the child execs, with what argv, and which of our
// descriptors become its 0, 1, 2, ...: the program itself, or with
// rlimits the trampoline, which is handed its own executable.
func command(cfg Config, ps *pipes) (string, []string, []uintptr, error) {
	files := []uintptr{ps.stdinFd(), uintptr(ps.childStdout), uintptr(ps.childStderr)}
	if cfg.Data {
		files = append(files, uintptr(ps.childData))
	}
	if len(cfg.Rlimits) == 0 {
		return cfg.Path, append([]string{cfg.Path}, cfg.Args...), files, nil
	}
	fd, err := exeFd()
	if err != nil {
		return "", nil, nil, fmt.Errorf("spawner: rlimits need the trampoline, but: %w", err)
	}
	if !cfg.Data {
		files = append(files, ^uintptr(0)) // fd 3 stays closed
	}
	files = append(files, uintptr(fd)) // the child's trampolineFd
	return trampolinePath, trampolineArgs(cfg.Rlimits, cfg.Path, cfg.Args), files, nil
}

func startError(cfg Config, err error, trampoline bool) error {
	se := &StartError{Path: cfg.Path, Err: err}
	se.diagnose(cfg.Dir, trampoline)
	return se
}

// TryReap reaps the leader if it has exited, without waiting, and reports
// whether it has been reaped (now or before). A caller that expects the
// leader to be gone (its stdout ended) spares the reaper goroutine that
// Done would start.
func (p *Process) TryReap() bool {
	p.reapMu.Lock()
	defer p.reapMu.Unlock()
	if p.reaped || p.reaping {
		return p.reaped
	}
	exit, cpu, ok := p.waiter.tryReap()
	if ok {
		p.publishLocked(exit, cpu)
	}
	return ok
}

// publishLocked records the leader's end; p.reapMu is held.
func (p *Process) publishLocked(exit Exit, cpu time.Duration) {
	p.exit, p.cpu, p.reaped = exit, cpu, true
	close(p.done)
}

// startReaper starts the goroutine that waits for the leader, unless it
// runs already or the leader has been reaped.
func (p *Process) startReaper() {
	p.reapMu.Lock()
	defer p.reapMu.Unlock()
	if p.reaped || p.reaping {
		return
	}
	p.reaping = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		exit, cpu := p.waiter.wait()
		p.reapMu.Lock()
		defer p.reapMu.Unlock()
		p.publishLocked(exit, cpu)
	}()
}

// Pid is the leader's process id, which is also the process group id.
func (p *Process) Pid() int { return p.pid }

// Stdin is the write end of the child's stdin. The caller writes the request
// body and closes it to send EOF. It is nil with Config.NoStdin.
func (p *Process) Stdin() *os.File { return p.stdin }

// Stdout is the read end of the child's stdout; it is pollable, so
// SetReadDeadline works and Close wakes a blocked Read.
func (p *Process) Stdout() *os.File { return p.stdout }

// Stderr is the read end of the child's stderr, pollable like Stdout; nil
// after Close if it was never asked for.
func (p *Process) Stderr() *os.File {
	p.fileMu.Lock()
	defer p.fileMu.Unlock()
	if p.stderr == nil && p.stderrFd >= 0 {
		p.stderr = os.NewFile(uintptr(p.stderrFd), "stderr")
		p.stderrFd = -1
	}
	return p.stderr
}

// ErrWouldBlock is ReadStderrNow's answer when there is nothing to read
// yet: the caller waits on Stderr instead.
var ErrWouldBlock = errors.New("spawner: nothing to read yet")

// ReadStderrNow reads the child's stderr without waiting: what is there,
// io.EOF at its end, or ErrWouldBlock if the pipe is empty but still open
// or Stderr has been asked for. Reading a finished child's stderr this way
// spares the pipe a round trip through the netpoller.
func (p *Process) ReadStderrNow(b []byte) (int, error) {
	p.fileMu.Lock()
	defer p.fileMu.Unlock()
	if p.stderrFd < 0 {
		return 0, ErrWouldBlock
	}
	for {
		n, err := syscall.Read(p.stderrFd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, ErrWouldBlock
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: "stderr", Err: err}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// GrowStdout gives the stdout pipe the size Config asked for, once, with
// Config.GrowStdoutLater.
func (p *Process) GrowStdout() {
	p.fileMu.Lock()
	size := p.pipeSize
	p.pipeSize = 0
	p.fileMu.Unlock()
	if size > 0 {
		growPipe(p.stdout, size)
	}
}

// Data is the write end of the child's fd 3, or nil unless Config.Data.
func (p *Process) Data() *os.File { return p.data }

// Done is closed once the leader has exited and been reaped. Other members of
// the group (a script's background jobs) may still run and hold the pipes.
// The first call starts waiting for the leader (see TryReap).
func (p *Process) Done() <-chan struct{} {
	p.startReaper()
	return p.done
}

// CPUTime is the CPU time (user and system) the leader used, with that of
// the children it waited for; it is valid after Done is closed and 0
// before. A Config.Cgroup counts every process; this is what there is
// without one.
func (p *Process) CPUTime() time.Duration {
	select {
	case <-p.done:
		return p.cpu
	default:
		return 0
	}
}

// Exit is the leader's exit status; it is valid after Done is closed and the
// zero Exit before.
func (p *Process) Exit() Exit {
	select {
	case <-p.done:
		return p.exit
	default:
		return Exit{}
	}
}
