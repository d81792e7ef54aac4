package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// cgroupGuard makes "no script outlives fcgi-wrap" hold with cgroups even
// when fcgi-wrap is killed with SIGKILL: a shell waits on a pipe that only
// fcgi-wrap writes to and, when the kernel closes it, writes "1" to the
// scripts' cgroup.kill, which kills every script and everything they
// started, setsid'd descendants included. Unlike the group guard it needs
// no message per request: the cgroup knows its members.
type cgroupGuard struct {
	w   *os.File
	cmd *exec.Cmd
}

// cgroupGuardProgram reads until EOF (read fails then) and kills. $0 names
// the guard in ps; $1 is the kill file.
const cgroupGuardProgram = `read -r _; echo 1 >"$1"`

func startCgroupGuard(killFile string) (*cgroupGuard, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:  "/bin/sh",
		Args:  []string{"sh", "-c", cgroupGuardProgram, "fcgi-wrap-cgroup-guard", killFile},
		Stdin: r,
		Env:   []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
		// Its own process group, as the group guard's.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting the cgroup guard: %w", err)
	}
	r.Close()
	return &cgroupGuard{w: w, cmd: cmd}, nil
}

// stop ends the guard at a clean exit, after every script is gone: what
// it kills then is an empty cgroup.
func (g *cgroupGuard) stop() {
	g.w.Close()
	g.cmd.Wait()
}

// startGroupGuard starts the process-group guard; under --run-as owner it
// gets CAP_KILL, as the groups it may have to kill belong to other users.
// A capability passes to a program only through the ambient set, which
// needs it inheritable too: raised for this one start, before any script
// runs, then lowered, so scripts never inherit it.
func (d *daemon) startGroupGuard() (*groupGuard, error) {
	if d.startup.RunAs != "owner" || os.Geteuid() == 0 {
		return startGroupGuard()
	}
	if err := setCaps([]cap.Value{cap.KILL}); err != nil {
		return nil, err
	}
	defer setCaps(nil)
	return startGroupGuardWith([]uintptr{unix.CAP_KILL})
}
