package daemon

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// What crosses an upgrade: the listening sockets, as duplicated
// descriptors, and the environment that names them.

// upgradeEnv is this process's environment for the new one, with the
// sockets announced as systemd announces them. LISTEN_PID is left out
// (the new pid is not known before the fork: envUpgradeFrom stands for
// it), and so is WATCHDOG_PID, which would keep the new process from
// feeding systemd's watchdog once it is the service's main process.
func upgradeEnv(env, names []string, from, readyFD int) []string {
	drop := []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", envUpgradeFrom, envUpgradeReady}
	out := make([]string, 0, len(env)+4)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(drop, k) {
			out = append(out, kv)
		}
	}
	return append(out,
		"LISTEN_FDS="+strconv.Itoa(len(names)),
		"LISTEN_FDNAMES="+strings.Join(names, ":"),
		envUpgradeFrom+"="+strconv.Itoa(from),
		envUpgradeReady+"="+strconv.Itoa(readyFD))
}

// handoverFiles duplicates every listening socket for the new process,
// with the names LISTEN_FDNAMES gives them.
func (d *daemon) handoverFiles() (files []*os.File, names []string, err error) {
	add := func(l net.Listener, name string) {
		var f *os.File
		if err == nil {
			if f, err = socketFile(l, name); err == nil {
				files, names = append(files, f), append(names, name)
			}
		}
	}
	for _, l := range d.sockets {
		name := nameBound
		if in, ok := l.(*inheritedListener); ok {
			l, name = in.Listener, in.name
		}
		add(l, name)
	}
	if d.observers != nil && d.observers.metricsLn != nil {
		add(d.observers.metricsLn, nameMetrics)
	}
	return files, names, err
}

// socketFile duplicates l's descriptor. Not with l's File method: exec
// puts such a copy into blocking mode, and O_NONBLOCK belongs to the
// socket both descriptors share, so this process's own accept would then
// block in the kernel, where closing the listener does not end it.
func socketFile(l net.Listener, name string) (*os.File, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("socket %s (%T) has no descriptor", l.Addr(), l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("socket %s: %w", l.Addr(), dupErr)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// unlinkSetter is a unix listener that can keep its socket file when
// closed (net.UnixListener, and unixListener in unixsock.go). A process
// that handed its sockets over must not remove the file they share.
type unlinkSetter interface{ SetUnlinkOnClose(bool) }

func keepSocketFiles(listeners []net.Listener) {
	for _, l := range listeners {
		if in, ok := l.(*inheritedListener); ok {
			l = in.Listener
		}
		if u, ok := l.(unlinkSetter); ok {
			u.SetUnlinkOnClose(false)
		}
	}
}
