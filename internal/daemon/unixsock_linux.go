package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// listenUnix creates the socket at addr with --socket-mode and its owner
// (socketOwner), and returns a listener that removes it again on Close.
func listenUnix(addr SocketAddr, st *Startup, log hclog.Logger) (net.Listener, error) {
	if err := removeStaleSocket(addr.Address); err != nil {
		return nil, err
	}
	uid, gid, err := socketOwner(st)
	if err != nil {
		return nil, err
	}
	// The handle on the directory is taken first, while the path is
	// surely reachable: the socket is removed through it at exit.
	dir, err := unix.Open(filepath.Dir(addr.Address), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	// The umask closes the window between bind and chmod in which the
	// socket would have the default, usually wider, permissions.
	old := syscall.Umask(int(^st.SocketMode & 0o777))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr.Address, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		unix.Close(dir)
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	ul := &unixListener{UnixListener: l, dir: dir, name: filepath.Base(addr.Address), path: addr.Address, log: log, unlink: true}
	l.SetUnlinkOnClose(false)
	var fi unix.Stat_t
	if err := unix.Fstatat(dir, ul.name, &fi, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		l.Close()
		unix.Close(dir)
		os.Remove(addr.Address)
		return nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	ul.dev, ul.ino = fi.Dev, fi.Ino
	err = os.Chmod(addr.Address, st.SocketMode)
	if err == nil && (uid >= 0 || gid >= 0) {
		err = os.Lchown(addr.Address, uid, gid)
	}
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	return ul, nil
}

// socketOwner is who a unix socket fcgi-wrap creates belongs to; -1 keeps
// what bind gave it. With --user and a root start, the socket belongs to
// that user and its group (--group, or its primary group): a web server
// in that group can connect, where a root:root socket would turn it away
// with "Permission denied". --socket-owner overrides either part.
func socketOwner(st *Startup) (uid, gid int, err error) {
	uid, gid = -1, -1
	if st.User != "" && os.Geteuid() == 0 {
		if uid, gid, _, err = lookupCredentials(st.User, st.Group); err != nil {
			return 0, 0, err
		}
	}
	if st.SocketOwner != "" {
		ou, og, err := lookupOwner(st.SocketOwner)
		if err != nil {
			return 0, 0, fmt.Errorf("--socket-owner %q: %w", st.SocketOwner, err)
		}
		if ou >= 0 {
			uid = ou
		}
		if og >= 0 {
			gid = og
		}
	}
	return uid, gid, nil
}

// unixListener removes its socket file when closed. Go's own unlink goes
// by path, with the credentials of the moment: after the privilege drop
// that fails where a directory above the socket is closed to the user
// (a 0700 parent), so the removal goes through a handle on the socket's
// own directory taken while fcgi-wrap was root. Removing still needs write
// permission on that directory (the kernel checks it at unlink time, fd
// or not); where it is lacking, the failure is logged and the next start
// replaces the stale socket.
type unixListener struct {
	*net.UnixListener
	dir      int // O_PATH descriptor of the socket's directory
	name     string
	path     string
	dev, ino uint64 // the socket file this listener made
	log      hclog.Logger

	mu     sync.Mutex
	unlink bool // remove the file at Close (SetUnlinkOnClose)
	closed bool
}

// SetUnlinkOnClose says whether Close removes the socket file, as
// net.UnixListener's does: a process that hands its listeners over to
// its successor must not remove the socket they share.
func (l *unixListener) SetUnlinkOnClose(unlink bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlink = unlink
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return err
	}
	l.closed = true
	defer unix.Close(l.dir)
	if !l.unlink {
		return err
	}
	// The path may hold someone else's socket by now (a successor that
	// bound anew): only the file this listener made is removed.
	var fi unix.Stat_t
	if unix.Fstatat(l.dir, l.name, &fi, unix.AT_SYMLINK_NOFOLLOW) != nil || fi.Dev != l.dev || fi.Ino != l.ino {
		return err
	}
	if uerr := unix.Unlinkat(l.dir, l.name, 0); uerr != nil {
		l.log.Warn("socket file not removed; the next start replaces it", "socket", "unix:"+l.path, "error", uerr,
			"hint", "let fcgi-wrap's user write the socket's directory, e.g. /run/fcgi-wrap (systemd RuntimeDirectory=)")
	}
	return err
}
