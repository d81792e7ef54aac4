package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// resolveTimeout bounds the name lookups of a start or a check: a dead DNS
// server must make fcgi-wrap fail with its name, not hang for minutes.
const resolveTimeout = 10 * time.Second

// resolver is what binding a tcp socket needs of the name service: a
// host's addresses (/etc/hosts, DNS) and a service's port (/etc/services).
// Tests inject their own.
type resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupPort(ctx context.Context, network, service string) (int, error)
}

// netResolver is the system's, through the net package.
type netResolver struct{}

func (netResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return net.DefaultResolver.LookupIPAddr(ctx, host)
}

func (netResolver) LookupPort(ctx context.Context, network, service string) (int, error) {
	return net.DefaultResolver.LookupPort(ctx, network, service)
}

// tcpAddresses resolves a tcp socket URL as libfcgi and php-fpm users
// expect: PORT may be a service name, "*" or an empty HOST means every
// address family (one dual-stack socket), and a HOST name stands for every
// address it resolves to in the family the scheme allows, each of which
// gets its own listening socket.
func tcpAddresses(ctx context.Context, r resolver, raw string, addr SocketAddr) ([]string, error) {
	host, service, err := net.SplitHostPort(addr.Address)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %v", raw, err)
	}
	port, err := strconv.Atoi(service)
	if err != nil {
		if port, err = r.LookupPort(ctx, addr.Network, service); err != nil {
			return nil, fmt.Errorf("socket %s: unknown port %q: %v", raw, service, err)
		}
	}
	portText := strconv.Itoa(port)
	if host == "" {
		return []string{net.JoinHostPort("", portText)}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{netip.AddrPortFrom(ip, uint16(port)).String()}, nil
	}
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("socket %s: cannot resolve host %q: %v", raw, host, err)
	}
	var addrs []string
	seen := map[string]bool{}
	for _, ip := range ips {
		is4 := ip.IP.To4() != nil
		if (addr.Network == "tcp4" && !is4) || (addr.Network == "tcp6" && is4) {
			continue
		}
		a := net.JoinHostPort(ip.String(), portText)
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("socket %s: host %q has no address for %s", raw, host, addr.Network)
	}
	return addrs, nil
}

// listenTCP opens one listening socket per address raw stands for. With
// port 0, the first address picks a free port and the others take the
// same one, so that a name still means one port.
func listenTCP(ctx context.Context, r resolver, raw string, addr SocketAddr) ([]net.Listener, error) {
	addrs, err := tcpAddresses(ctx, r, raw, addr)
	if err != nil {
		return nil, err
	}
	var listeners []net.Listener
	for i, a := range addrs {
		l, err := net.Listen(addr.Network, a)
		if err != nil {
			closeAll(listeners)
			// The OpError repeats the address; its cause is what to say.
			var op *net.OpError
			if errors.As(err, &op) {
				err = op.Err
			}
			return nil, fmt.Errorf("socket %s: cannot listen on %s: %w", raw, a, err)
		}
		listeners = append(listeners, l)
		if i == 0 && len(addrs) > 1 && strings.HasSuffix(a, ":0") {
			chosen := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
			for j := 1; j < len(addrs); j++ {
				host, _, _ := net.SplitHostPort(addrs[j])
				addrs[j] = net.JoinHostPort(host, chosen)
			}
		}
	}
	return listeners, nil
}
