package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// SIGUSR2 upgrades fcgi-wrap in place, as nginx does: the binary at the
// path fcgi-wrap was started by runs again, is handed every listening
// socket (as systemd hands them: LISTEN_FDS, LISTEN_FDNAMES), and once it
// reports ready this process stops accepting, finishes its requests and
// exits. Both accept on the same sockets meanwhile, so no connection is
// refused. If the new process fails, this one keeps serving.

// upgradeReadyTimeout bounds the wait for the new process to report
// ready. Starting takes milliseconds (nothing is bound, the sockets are
// inherited); the rest is headroom for a loaded machine. Past it the new
// process is killed and this one keeps serving.
const upgradeReadyTimeout = 30 * time.Second

// exitWait bounds the wait for a new process that closed its ready pipe to
// exit, before it is killed.
const exitWait = 5 * time.Second

// upgrade is a new process that has not yet reported ready.
type upgrade struct {
	cmd      *exec.Cmd
	ready    *os.File // read end of the ready pipe
	cancel   context.CancelFunc
	exitWait time.Duration // the const exitWait; shorter in tests
	// result receives the outcome of the wait for the new process, once:
	// nil when it serves; otherwise it is gone and reaped.
	result chan error
}

// startUpgrade starts the new process. The wait for its report runs in a
// goroutine; whoever starts an upgrade receives from result, after cancel
// if it stops waiting.
func (d *daemon) startUpgrade(timeout time.Duration) (*upgrade, error) {
	path, err := selfPath(os.Args[0], d.startDir)
	if err != nil {
		return nil, fmt.Errorf("finding the binary to start: %w", err)
	}
	files, names, err := d.handoverFiles()
	defer closeFiles(files)
	if err != nil {
		return nil, fmt.Errorf("handing over the sockets: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := &exec.Cmd{
		Path: path,
		Args: os.Args,
		Env:  upgradeEnv(os.Environ(), names, os.Getpid(), 3+len(files)),
		// Its log and access log go where this process's go.
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: append(files, w),
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &upgrade{cmd: cmd, ready: r, cancel: cancel, result: make(chan error, 1), exitWait: exitWait}
	go func() { u.result <- u.wait(ctx, timeout) }()
	return u, nil
}

func (u *upgrade) pid() int { return u.cmd.Process.Pid }

// wait returns nil once the new process reports ready. Otherwise the new
// process is killed if it still runs, reaped, and the error says why.
func (u *upgrade) wait(ctx context.Context, timeout time.Duration) error {
	defer u.ready.Close()
	u.ready.SetReadDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { u.ready.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, len(readyMessage))
	_, err := io.ReadFull(u.ready, buf)
	var why error
	switch {
	case err == nil && string(buf) == readyMessage:
		return nil
	case err == nil:
		why = fmt.Errorf("the new process reported %q instead of %q", buf, readyMessage)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the new process exited before it was ready: %w", u.reap())
	case ctx.Err() != nil:
		why = errors.New("fcgi-wrap is stopping")
	case errors.Is(err, os.ErrDeadlineExceeded):
		why = fmt.Errorf("the new process did not report ready within %s", timeout)
	default:
		why = fmt.Errorf("reading the new process's report: %w", err)
	}
	u.cmd.Process.Kill()
	u.reap()
	return why
}

// reap waits for the new process to end, killing it if it is still there
// after exitWait, and says how it ended.
func (u *upgrade) reap() error {
	done := make(chan error, 1)
	go func() { done <- u.cmd.Wait() }()
	t := time.NewTimer(u.exitWait)
	defer t.Stop()
	var err error
	select {
	case err = <-done:
	case <-t.C:
		u.cmd.Process.Kill()
		err = <-done
	}
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// selfPath is the binary an upgrade runs: the path fcgi-wrap was started
// by (argv[0], searched in PATH if it names no directory, else taken from
// the directory fcgi-wrap started in), looked up now, so that the file a
// package upgrade put there since is the one that runs. /proc/self/exe
// would still be the old binary.
func selfPath(argv0, startDir string) (string, error) {
	switch {
	case !strings.Contains(argv0, "/"):
		return exec.LookPath(argv0)
	case filepath.IsAbs(argv0):
		return argv0, nil
	}
	return filepath.Join(startDir, argv0), nil
}

// beginUpgrade answers SIGUSR2; nil if the new process did not start.
func (d *daemon) beginUpgrade() *upgrade {
	u, err := d.startUpgrade(upgradeReadyTimeout)
	if err != nil {
		d.log.Error("upgrade failed; still serving", "error", err)
		return nil
	}
	d.log.Info("upgrade: started a new process; waiting for it to report ready", "pid", u.pid(), "binary", u.cmd.Path)
	return u
}

// upgradeFailed keeps this process serving after a failed upgrade. The
// new process wrote its pid file before it failed: it is this one's again.
func (d *daemon) upgradeFailed(u *upgrade, err error) {
	u.cancel()
	d.log.Error("upgrade failed; still serving", "pid", u.pid(), "binary", u.cmd.Path, "error", err)
	if _, err := writePidFile(d.startup.PidFile); err != nil {
		d.log.Error("rewriting the pid file", "error", err)
	}
}

// abandonUpgrade ends an upgrade that is still waiting because fcgi-wrap
// stops: the new process is killed, or, should it have become ready just
// now, told to stop as well, since the operator asked the service to stop.
func (d *daemon) abandonUpgrade(u *upgrade) {
	u.cancel()
	err := <-u.result
	if err == nil {
		d.log.Warn("upgrade: stopping the new process too, which became ready as fcgi-wrap stopped", "pid", u.pid())
		u.cmd.Process.Signal(syscall.SIGTERM)
		err = errors.New("fcgi-wrap is stopping")
	}
	d.upgradeFailed(u, err)
}

// handOver makes the new process the one that serves: systemd learns its
// pid (MAINPID=, accepted from the main process), and from then on it
// alone speaks for the service, so this one unsets NOTIFY_SOCKET: neither
// its STATUS= nor its STOPPING=1 must reach systemd any more.
func (d *daemon) handOver(u *upgrade) {
	u.cancel()
	d.log.Info("upgrade: the new process is ready; this one stops accepting and finishes its requests",
		"pid", u.pid(), "timeout", d.shutdownTimeout())
	if ok, err := sd.SdNotify(false, "MAINPID="+strconv.Itoa(u.pid())); err != nil {
		d.log.Warn("telling systemd the new main pid failed", "error", err)
	} else if ok {
		os.Unsetenv("NOTIFY_SOCKET")
	}
}
