package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// Names of the contenders, as the report shows them.
const (
	nameFW       = "fcgi-wrap"
	nameFcgiwrap = "fcgiwrap"
)

// server is a FastCGI daemon under test, listening on a unix socket.
type server struct {
	name string
	sock string
	// comms are the kernel's names of the daemon's helper processes (its
	// children that are not scripts), to find them in /proc.
	comms []string
	proc  *proc
	// cleanup, if set, runs once the daemon has stopped (the lean
	// wrapper's cgroup is removed then); nil: nothing to clean up.
	cleanup func()
}

func (s *server) stop() {
	s.proc.stop()
	if s.cleanup != nil {
		s.cleanup()
	}
}

// startFW starts fcgi-wrap with workers scripts at once, serving whatever
// SCRIPT_FILENAME names, as it runs behind nginx.
func startFW(ctx context.Context, ws *workspace, workers int, extra ...string) (*server, error) {
	sock := ws.sockPath("fcgi-wrap")
	argv := append([]string{ws.fcgiWrap,
		"--socket", "unix:" + sock,
		"--socket-mode", "0666",
		"--workers", strconv.Itoa(workers),
		// The harness runs as root on these machines.
		"--allow-root",
	}, extra...)
	// Its one helper is the guard that kills the scripts should it die:
	// awk for process groups, named after the path fcgi-wrap executes,
	// "awk", whichever awk that links to; sh when it contains scripts in
	// cgroups (--cgroup auto does where its own cgroup is writable).
	// Children named fcgi-wrap are not helpers: they are scripts between
	// fork and exec.
	return startServer(ctx, ws, nameFW, sock, argv, append(ws.fwEnv, daemonEnv()...), "awk", "mawk", "gawk", "sh")
}

// startFcgiwrap starts Debian's fcgiwrap with workers preforked processes.
func startFcgiwrap(ctx context.Context, ws *workspace, workers int) (*server, error) {
	sock := ws.sockPath("fcgiwrap")
	argv := []string{ws.fcgiwrap, "-c", strconv.Itoa(workers), "-s", "unix:" + sock}
	// Its preforked workers run its own binary, and the kernel keeps the
	// first 15 bytes of its name. A worker's child between fork and exec
	// has that name too, but the worker, not the daemon, as its parent.
	comm := filepath.Base(ws.fcgiwrap)
	return startServer(ctx, ws, nameFcgiwrap, sock, argv, daemonEnv(), comm[:min(len(comm), 15)])
}

// startServer starts a daemon whose helpers are its children with these
// command names.
func startServer(ctx context.Context, ws *workspace, name, sock string, argv, env []string, helpers ...string) (*server, error) {
	logPath := strings.TrimSuffix(sock, ".sock") + ".log"
	p, err := startProc(name, logPath, argv, env)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, "unix", sock); err != nil {
		p.stop()
		return nil, err
	}
	// fcgiwrap creates its socket with the umask's mode; nginx workers run
	// as root in the generated config, but a world-usable socket keeps the
	// comparison independent of that.
	_ = os.Chmod(sock, 0o666)
	return &server{name: name, sock: sock, comms: helpers, proc: p}, nil
}

// daemonEnv is the small environment both daemons get: fcgiwrap passes
// its whole environment to scripts, so a large one would slow it down for
// reasons that have nothing to do with its design.
func daemonEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "LANG=C"}
}

// startPair starts both contenders with the same number of workers.
func startPair(ctx context.Context, ws *workspace, workers int) (fw, other *server, err error) {
	if fw, err = startFW(ctx, ws, workers); err != nil {
		return nil, nil, err
	}
	if other, err = startFcgiwrap(ctx, ws, workers); err != nil {
		fw.stop()
		return nil, nil, err
	}
	return fw, other, nil
}

// cgiParams are the params nginx sends for a GET (or a POST with a body)
// to script, so both wrappers do the same work per request as behind a
// real server.
func cgiParams(script, query string, body int64) []wire.Pair {
	method := "GET"
	if body > 0 {
		method = "POST"
	}
	uri := "/cgi-bin/" + filepath.Base(script)
	if query != "" {
		uri += "?" + query
	}
	kv := [][2]string{
		{"QUERY_STRING", query},
		{"REQUEST_METHOD", method},
		{"CONTENT_TYPE", ""},
		{"CONTENT_LENGTH", ""},
		{"SCRIPT_NAME", "/cgi-bin/" + filepath.Base(script)},
		{"REQUEST_URI", uri},
		{"DOCUMENT_URI", "/cgi-bin/" + filepath.Base(script)},
		{"DOCUMENT_ROOT", filepath.Dir(script)},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REQUEST_SCHEME", "http"},
		{"GATEWAY_INTERFACE", "CGI/1.1"},
		{"SERVER_SOFTWARE", "nginx/1.22.1"},
		{"REMOTE_ADDR", "127.0.0.1"},
		{"REMOTE_PORT", "53412"},
		{"SERVER_ADDR", "127.0.0.1"},
		{"SERVER_PORT", "80"},
		{"SERVER_NAME", "localhost"},
		{"SCRIPT_FILENAME", script},
		{"HTTP_HOST", "localhost"},
		{"HTTP_USER_AGENT", "fcgi-wrap-bench"},
		{"HTTP_ACCEPT", "*/*"},
	}
	if body > 0 {
		kv[2][1] = "application/octet-stream"
		kv[3][1] = strconv.FormatInt(body, 10)
	}
	ps := make([]wire.Pair, len(kv))
	for i, p := range kv {
		ps[i] = wire.Pair{Name: p[0], Value: p[1]}
	}
	return ps
}
