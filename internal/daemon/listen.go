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
// A tcp host of "*" or "" means every address; the port may be a service
// name. Names are resolved when binding (tcpAddresses).
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
		if !validPort(port) {
			return SocketAddr{}, fmt.Errorf("socket %q: bad port %q (want a number up to 65535 or a name from /etc/services)", s, port)
		}
		if host == "*" {
			host = "" // every address family, as php-fpm's listen = *:9000
		}
		return SocketAddr{scheme, net.JoinHostPort(host, port)}, nil
	}
	return SocketAddr{}, fmt.Errorf("socket %q: unknown scheme %q (want unix, tcp, tcp4 or tcp6)", s, scheme)
}

// validPort: a number, or a service name as /etc/services spells them
// (resolved when binding).
func validPort(port string) bool {
	if port == "" || port[0] == '-' {
		return false
	}
	if strings.Trim(port, "0123456789") == "" {
		_, err := strconv.ParseUint(port, 10, 16)
		return err == nil
	}
	for _, c := range port {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
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
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	var listeners []net.Listener
	for _, raw := range st.Sockets {
		bound, err := bind(ctx, raw, st, log)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		for _, l := range bound {
			log.Info("listening", "socket", l.Addr().Network()+":"+l.Addr().String())
		}
		listeners = append(listeners, bound...)
	}
	return listeners, nil
}

func closeAll(listeners []net.Listener) {
	for _, l := range listeners {
		l.Close()
	}
}

// bind opens what one --socket stands for: a unix socket, or a tcp socket
// per address its host resolves to.
func bind(ctx context.Context, raw string, st *Startup, log hclog.Logger) ([]net.Listener, error) {
	addr, err := ParseSocketURL(raw)
	if err != nil {
		return nil, err
	}
	if addr.Network != "unix" {
		return listenTCP(ctx, netResolver{}, raw, addr)
	}
	l, err := listenUnix(addr, st, log)
	if err != nil {
		return nil, err
	}
	return []net.Listener{l}, nil
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

// lookupOwner resolves USER[:GROUP] as chown(1) does: USER alone or
// "USER:" means that user and its primary group, ":GROUP" only the group.
// -1 stands for the part not given.
func lookupOwner(spec string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	uid, gid = -1, -1
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			if u, err = user.LookupId(name); err != nil {
				return 0, 0, fmt.Errorf("no user %q", name)
			}
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if group != "" {
		if gid, err = lookupGroup(group); err != nil {
			return 0, 0, err
		}
	} else if hasGroup && name == "" {
		return 0, 0, fmt.Errorf("%q names neither a user nor a group", spec)
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
