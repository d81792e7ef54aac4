package daemon

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// What an upgrade tells the new process, besides LISTEN_FDS and
// LISTEN_FDNAMES.
const (
	// envUpgradeFrom is the old process's pid. It stands in for
	// LISTEN_PID, which the old process cannot know before the new one
	// exists: the new process trusts LISTEN_FDS only when its parent has
	// that pid, which a script or any later process that inherited the
	// variable never has.
	envUpgradeFrom = "FCGI_WRAP_UPGRADE_FROM"
	// envUpgradeReady is the descriptor of a pipe's write end. The new
	// process writes READY=1 to it once it serves, as it would tell
	// systemd; the pipe closing before that (the new process exited) says
	// the upgrade failed. A pipe, unlike a notify socket, cannot be
	// written to by anyone else.
	envUpgradeReady = "FCGI_WRAP_UPGRADE_READY_FD"
)

// readyMessage is what the new process writes when it serves.
const readyMessage = "READY=1\n"

// upgradedFrom is the process that started this one by an upgrade.
type upgradedFrom struct {
	pid   int
	ready *os.File // write end of the ready pipe
}

// takeUpgrade reads and clears the upgrade's environment, before anything
// else looks at LISTEN_FDS. nil, nil: this process was not started by an
// upgrade. An error says the variables are there but not to be trusted;
// they are then ignored and fcgi-wrap starts as if they were not.
func takeUpgrade() (*upgradedFrom, error) {
	from, fd := os.Getenv(envUpgradeFrom), os.Getenv(envUpgradeReady)
	if from == "" {
		return nil, nil
	}
	os.Unsetenv(envUpgradeFrom)
	os.Unsetenv(envUpgradeReady)
	pid, err := strconv.Atoi(from)
	if err != nil || pid != os.Getppid() {
		return nil, fmt.Errorf("%s=%s is not this process's parent (pid %d); its sockets are not taken", envUpgradeFrom, from, os.Getppid())
	}
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor; its sockets are not taken", envUpgradeReady, fd)
	}
	// No script may inherit it: its open write end would keep the old
	// process from seeing this one exit.
	syscall.CloseOnExec(n)
	// The parent check above is what LISTEN_PID stands for; with it set,
	// the sockets are adopted exactly as systemd's are.
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	return &upgradedFrom{pid: pid, ready: os.NewFile(uintptr(n), "upgrade-ready")}, nil
}

// reportReady tells the process that upgraded into this one that this one
// serves now; it then stops accepting. Nothing happens without an upgrade.
func (u *upgradedFrom) reportReady(log hclog.Logger) {
	if u == nil {
		return
	}
	_, err := u.ready.WriteString(readyMessage)
	u.ready.Close()
	if err != nil {
		// It gave up waiting, and stops this process next.
		log.Warn("could not tell the previous process that this one is ready", "pid", u.pid, "error", err)
		return
	}
	log.Info("took over from the previous process", "pid", u.pid)
}
