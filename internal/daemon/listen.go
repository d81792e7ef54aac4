package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/hashicorp/go-hclog"
)

// SocketAddr is a parsed --socket or --connect URL.
type SocketAddr struct {
	Network string // "unix", "tcp", "tcp4" or "tcp6"
	Address string
}

func (a SocketAddr) String() string { return a.Network + ":" + a.Address }

// ParseSocketURL accepts what fcgiwrap and spawn-fcgi users write:
// unix:/path, a bare /path or ./path, tcp:host:port, tcp4:..., tcp6:[addr]:port.
func ParseSocketURL(s string) (SocketAddr, error) {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		return SocketAddr{"unix", s}, nil
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return SocketAddr{}, fmt.Errorf("socket %q: want unix:/path, /path, tcp:host:port or tcp6:[addr]:port", s)
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return SocketAddr{}, fmt.Errorf("socket %q: empty path", s)
		}
		if len(rest) >= 108 {
			return SocketAddr{}, fmt.Errorf("socket %q: path longer than the 107 bytes a unix socket allows", s)
		}
		return SocketAddr{"unix", rest}, nil
	case "tcp", "tcp4", "tcp6":
		rest = strings.TrimPrefix(rest, "//")
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return SocketAddr{}, fmt.Errorf("socket %q: %v", s, err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return SocketAddr{}, fmt.Errorf("socket %q: bad port %q", s, port)
		}
		return SocketAddr{scheme, net.JoinHostPort(host, port)}, nil
	}
	return SocketAddr{}, fmt.Errorf("socket %q: unknown scheme %q (want unix, tcp, tcp4 or tcp6)", s, scheme)
}

// errNoSocket is a usage error: fcgi-wrap has nothing to accept on.
var errNoSocket = &UsageError{Err: errors.New("no socket to listen on: pass --socket unix:/run/fcgi-wrap.sock (or tcp:127.0.0.1:9000), " +
	"or start fcgi-wrap with a listening socket on fd 0 (spawn-fcgi, lighttpd bin-path) or by systemd socket activation")}

// openListeners binds every --socket, or adopts the sockets systemd or the
// web server handed us. Unix sockets it creates are removed when their
// listener closes.
func openListeners(st *Startup, log hclog.Logger) ([]net.Listener, error) {
	if len(st.Sockets) == 0 {
		inherited, err := inheritedListeners(log)
		if err != nil {
			return nil, err
		}
		if len(inherited) == 0 {
			return nil, errNoSocket
		}
		return inherited, nil
	}
	var listeners []net.Listener
	for _, raw := range st.Sockets {
		addr, err := ParseSocketURL(raw)
		if err == nil {
			var l net.Listener
			l, err = bind(addr, st)
			if err == nil {
				log.Info("listening", "socket", addr.Network+":"+l.Addr().String())
				listeners = append(listeners, l)
				continue
			}
		}
		closeAll(listeners)
		return nil, err
	}
	return listeners, nil
}

func closeAll(listeners []net.Listener) {
	for _, l := range listeners {
		l.Close()
	}
}

func bind(addr SocketAddr, st *Startup) (net.Listener, error) {
	if addr.Network != "unix" {
		l, err := net.Listen(addr.Network, addr.Address)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return l, nil
	}
	if err := removeStaleSocket(addr.Address); err != nil {
		return nil, err
	}
	// The umask closes the window between bind and chmod in which the
	// socket would have the default, usually wider, permissions.
	old := syscall.Umask(int(^st.SocketMode & 0o777))
	l, err := net.Listen("unix", addr.Address)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err := os.Chmod(addr.Address, st.SocketMode); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	if st.SocketOwner != "" {
		uid, gid, err := lookupOwner(st.SocketOwner)
		if err == nil {
			err = os.Lchown(addr.Address, uid, gid)
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("--socket-owner %q: %w", st.SocketOwner, err)
		}
	}
	return l, nil
}

// removeStaleSocket clears the way for bind: a socket left by a killed
// fcgi-wrap is removed, a live one is someone else's, and anything that is
// not a socket is never touched.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("socket %s: the path exists and is not a socket; not removing it", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("socket %s is already in use by a running process", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("socket %s: cannot tell whether it is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("socket %s: removing stale socket: %w", path, err)
	}
	return nil
}

// lookupOwner resolves USER[:GROUP]; without GROUP the user's primary group.
func lookupOwner(spec string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return 0, 0, fmt.Errorf("no user %q", name)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if hasGroup {
		if gid, err = lookupGroup(group); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if g, err = user.LookupGroupId(name); err != nil {
			return 0, fmt.Errorf("no group %q", name)
		}
	}
	return strconv.Atoi(g.Gid)
}

// inheritedListeners finds sockets handed over by systemd (LISTEN_FDS) or,
// by the FastCGI convention, a listening socket on fd 0.
func inheritedListeners(log hclog.Logger) ([]net.Listener, error) {
	if os.Getenv("LISTEN_FDS") != "" {
		named, err := activation.ListenersWithNames()
		if err != nil {
			return nil, fmt.Errorf("systemd sockets: %w", err)
		}
		var listeners []net.Listener
		for name, ls := range named {
			for _, l := range ls {
				log.Info("listening on systemd socket", "name", name, "addr", l.Addr().String())
				listeners = append(listeners, l)
			}
		}
		if len(listeners) > 0 {
			return listeners, nil
		}
	}
	accepting, err := syscall.GetsockoptInt(wireListenFD, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil || accepting != 1 {
		return nil, nil
	}
	f := os.NewFile(uintptr(wireListenFD), "fastcgi-listen-socket")
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket on fd 0: %w", err)
	}
	// net.FileListener made a close-on-exec copy; fd 0 itself would be
	// inherited by nothing (scripts get their own stdin) but must not stay
	// a listening socket nor become free for an unrelated file.
	f.Close()
	// /dev/null takes its place as a raw fd (no *os.File, whose finalizer
	// would close it again), so no later file silently becomes "stdin".
	null, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		l.Close()
		return nil, err
	}
	if null != wireListenFD {
		syscall.Dup3(null, wireListenFD, 0)
		syscall.Close(null)
	}
	log.Info("listening on the socket passed as fd 0", "addr", l.Addr().String())
	return []net.Listener{l}, nil
}

// wireListenFD is FCGI_LISTENSOCK_FILENO.
const wireListenFD = 0

// allowRules is the live --allow-from list (with FCGI_WEB_SERVER_ADDRS);
// a reload swaps it. Empty allows everyone.
type allowRules struct{ nets atomic.Pointer[[]*net.IPNet] }

func (a *allowRules) set(cidrs []string) error {
	nets, err := parseAllowed(cidrs, os.Getenv("FCGI_WEB_SERVER_ADDRS"))
	if err != nil {
		return err
	}
	a.nets.Store(&nets)
	return nil
}

func (a *allowRules) permits(ip net.IP) bool {
	nets := a.nets.Load()
	if nets == nil || len(*nets) == 0 {
		return true
	}
	for _, n := range *nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// guardTCP puts every TCP listener behind the allow rules; unix sockets are
// guarded by their file permissions instead.
func guardTCP(listeners []net.Listener, rules *allowRules, log hclog.Logger) {
	for i, l := range listeners {
		if _, ok := l.Addr().(*net.TCPAddr); ok {
			listeners[i] = &allowListener{Listener: l, rules: rules, log: log}
		}
	}
}

func parseAllowed(cidrs []string, webServerAddrs string) ([]*net.IPNet, error) {
	var allowed []*net.IPNet
	for _, c := range cidrs {
		for _, part := range strings.Split(c, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if !strings.Contains(part, "/") {
				if ip := net.ParseIP(part); ip != nil {
					allowed = append(allowed, singleIP(ip))
					continue
				}
			}
			_, n, err := net.ParseCIDR(part)
			if err != nil {
				return nil, fmt.Errorf("--allow-from %q: %v", part, err)
			}
			allowed = append(allowed, n)
		}
	}
	for _, part := range strings.Split(webServerAddrs, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		ip := net.ParseIP(part)
		if ip == nil {
			return nil, fmt.Errorf("FCGI_WEB_SERVER_ADDRS: %q is not an IP address", part)
		}
		allowed = append(allowed, singleIP(ip))
	}
	return allowed, nil
}

func singleIP(ip net.IP) *net.IPNet {
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}

// allowListener drops connections from addresses not allowed, so the
// server behind it never sees them.
type allowListener struct {
	net.Listener
	rules *allowRules
	log   hclog.Logger
}

func (l *allowListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if addr, ok := c.RemoteAddr().(*net.TCPAddr); ok && !l.rules.permits(addr.IP) {
			l.log.Warn("connection refused: address not allowed", "remote", addr.String())
			c.Close()
			continue
		}
		return c, nil
	}
}

// Dial connects to a socket URL, as the request command does.
func Dial(ctx context.Context, raw string) (net.Conn, error) {
	addr, err := ParseSocketURL(raw)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, addr.Network, addr.Address)
}
