package daemon

import (
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/hashicorp/go-hclog"
)

// The names a listening socket carries across an upgrade, in
// LISTEN_FDNAMES as systemd would name it. Any other name is systemd's own
// (FileDescriptorName=) and is handed on unchanged.
const (
	// nameBound is a socket fcgi-wrap bound itself (--socket): the process
	// that finally stops removes its file, as the first one would have.
	nameBound = "fcgi-wrap"
	// nameFD0 is the socket a web server or spawn-fcgi passed on fd 0.
	nameFD0 = "fcgi-wrap-fd0"
	// nameMetrics is the --metrics-listen socket.
	nameMetrics = "fcgi-wrap-metrics"
)

// inheritedListener is a listening socket fcgi-wrap was handed instead of
// binding it: by systemd, on fd 0, or by the process it upgrades. An
// upgrade hands it on under the same name.
type inheritedListener struct {
	net.Listener
	name string
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
		for _, name := range sortedKeys(named) {
			for _, l := range named[name] {
				log.Info("listening on systemd socket", "name", name, "socket", l.Addr().String())
				listeners = append(listeners, &inheritedListener{Listener: l, name: name})
			}
		}
		if len(listeners) > 0 {
			return listeners, nil
		}
	}
	return fd0Listener(log)
}

// fd0Listener adopts a listening socket on fd 0, if there is one.
func fd0Listener(log hclog.Logger) ([]net.Listener, error) {
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
	log.Info("listening on the socket passed as fd 0", "socket", l.Addr().String())
	return []net.Listener{&inheritedListener{Listener: l, name: nameFD0}}, nil
}

// wireListenFD is FCGI_LISTENSOCK_FILENO.
const wireListenFD = 0

// adoptHandedOver takes the sockets the process that started this one by
// an upgrade handed over (LISTEN_FDS, trusted by takeUpgrade): the FastCGI
// sockets to serve, whatever --socket says (changing sockets takes a
// restart), and the metrics socket if there was one.
func adoptHandedOver(log hclog.Logger) (serve []net.Listener, metrics net.Listener, err error) {
	named, err := activation.ListenersWithNames()
	if err != nil {
		return nil, nil, fmt.Errorf("sockets handed over: %w", err)
	}
	for _, name := range sortedKeys(named) {
		for _, l := range named[name] {
			switch {
			case name == nameMetrics:
				metrics = l
				continue
			case name == nameBound:
				// Now this process's to remove when it stops for good.
				if u, ok := l.(*net.UnixListener); ok {
					u.SetUnlinkOnClose(true)
				}
			}
			log.Info("listening on socket handed over by the previous process", "name", name, "socket", l.Addr().String())
			serve = append(serve, &inheritedListener{Listener: l, name: name})
		}
	}
	if len(serve) == 0 {
		if metrics != nil {
			metrics.Close()
		}
		return nil, nil, fmt.Errorf("the previous process handed over no FastCGI socket")
	}
	return serve, metrics, nil
}

// listenMetrics opens --metrics-listen, or takes the metrics socket the
// previous process handed over: binding the address again would fail
// while that process still drains.
func (d *daemon) listenMetrics(addr string) (net.Listener, error) {
	if l := d.handedMetrics; l != nil {
		d.handedMetrics = nil
		return l, nil
	}
	return net.Listen("tcp", addr)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// openSockets binds or adopts the listening sockets: after an upgrade,
// those the previous process handed over; otherwise what openListeners
// finds.
func (d *daemon) openSockets(s *Settings) (err error) {
	if d.upgradedFrom == nil {
		if err := validate(s, d.log); err != nil {
			return err
		}
		d.listeners, err = openListeners(&s.Startup, d.log)
	} else {
		// The sockets exist already: what validate checks before binding
		// (their directories are writable) does not apply to them.
		adopted := *s
		adopted.Startup.Sockets = nil
		if err := validate(&adopted, d.log); err != nil {
			return err
		}
		d.listeners, d.handedMetrics, err = adoptHandedOver(d.log)
	}
	d.sockets = slices.Clone(d.listeners)
	return err
}
