package main

// The lean wrapper: the floor a FastCGI-to-CGI wrapper in Go reaches when
// it spawns scripts as fcgi-wrap does and does nothing else.

import (
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// leanCommand, as the first argument, makes the harness's binary the lean
// wrapper instead of the harness.
const leanCommand = "lean-wrapper"

// leanDrain bounds how long the lean wrapper waits at SIGTERM for its
// connections to end once it has closed them and killed their scripts:
// only a script's descendant that left its process group can keep one
// open that long.
const leanDrain = 2 * time.Second

// leanMain runs the lean wrapper, `bench lean-wrapper -socket PATH
// [-cgroup DIR]`: a FastCGI server on a unix socket (mode 0666), until
// ctx ends (SIGTERM). It is the harness's reference for what a wrapper in
// Go costs when it spawns a script as fcgi-wrap does: the gap between
// fcgi-wrap and it is fcgi-wrap's own machinery, the gap between it and
// fcgiwrap what Go and the spawn cost. So per request it does what
// fcgi-wrap's spawn does, and nothing else:
//
//   - read one bodyless request on a connection (BEGIN_REQUEST, PARAMS,
//     the empty STDIN), in the connection's one goroutine;
//   - make the lookups of fcgi-wrap's strict checks on SCRIPT_FILENAME: a
//     stat of each directory above it and of it, and the kernel's execute
//     check (faccessat X_OK, AT_EACCESS);
//   - start it with the params as its environment, in its directory, in a
//     process group of its own, with /dev/null as stdin (fcgi-wrap gives a
//     bodyless request that too), pipes as stdout and stderr, and inside
//     the -cgroup directory if one is given (CLONE_INTO_CGROUP);
//   - relay its stdout to EOF as STDOUT records, reading through the
//     runtime's poller, reap it, read what its stderr holds without
//     waiting and discard it, and end with END_REQUEST (its exit code)
//     and closing the connection.
//
// What it leaves out, all of which fcgi-wrap does:
//
//   - FCGI_KEEP_CONN (it closes after every request), multiplexing,
//     management records, FCGI_ABORT_REQUEST, roles: it serves one
//     responder request per connection, and any other record closes the
//     connection, as does a request with a body;
//   - policy on the script: what the lookups find is only asked whether
//     the directories are directories and the script a regular file that
//     may be executed; no setuid, writable-by-others, --root, --allow or
//     extension checks, no interpreters, no PATH_INFO, no symlink
//     resolution;
//   - policy on the environment: the params go in as they came (no name,
//     NUL or httpoxy checks, no duplicates removed, no sorting), with PATH,
//     GATEWAY_INTERFACE and SERVER_SOFTWARE added only when missing;
//   - the response head: the script's output is relayed as it comes,
//     never parsed or checked;
//   - stderr: it is read only once the script has exited, so a script
//     that writes more than the pipe holds (64 KiB) blocks forever, and
//     with it its connection; it is never logged;
//   - limits and safety: no worker limit (every connection spawns at
//     once), no timeouts, no limit on the params' size, no rlimits, no
//     Pdeathsig, no killing of what a script leaves behind, one cgroup
//     shared by all scripts (fcgi-wrap gives each request one of its own,
//     reused), and no guard process;
//   - logging, metrics, graceful draining, configuration, privilege
//     dropping.
//
// A request it cannot read ends its connection; a script that cannot be
// found gets a 404 and one that cannot be started a 500. Neither stops
// the server.
func leanMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(leanCommand, flag.ContinueOnError)
	sock := fs.String("socket", "", "unix socket to listen on (required)")
	cgroupDir := fs.String("cgroup", "", "cgroup2 directory to start every script in (default: none, scripts stay in the server's cgroup)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sock == "" || fs.NArg() > 0 {
		return errors.New(leanCommand + ": usage: -socket PATH [-cgroup DIR]")
	}
	// The same runtime setting as fcgi-wrap's own default (its
	// leaveCPUsToScripts): a floor measured under other settings than
	// the daemon it bounds would compare the settings, not the work. On 2
	// CPUs a P per CPU cost this wrapper about a sixth more CPU per tiny
	// request.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
	s, err := newLeanServer(*cgroupDir)
	if err != nil {
		return err
	}
	defer s.close()
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		return err
	}
	// The load generator may run as another user than the server.
	if err := os.Chmod(*sock, 0o666); err != nil {
		ln.Close()
		return err
	}
	stop := context.AfterFunc(ctx, s.shutdown)
	defer stop()
	s.serve(ln)
	// shutdown, whoever calls it first, has returned once this one has.
	s.shutdown()
	s.drain(leanDrain)
	return nil
}

// leanServer is the lean wrapper's state: what every script gets, and the
// connections being served, so that shutdown can end them.
type leanServer struct {
	devNull  int // every script's stdin
	cgroupFD int // the cgroup every script starts in; -1: the server's own

	closing atomic.Bool // shutdown has begun: kill any script started now
	mu      sync.Mutex
	ln      net.Listener
	live    map[*leanConn]struct{} // nil once shutdown has begun
	// conns waits for the goroutine of every connection served.
	conns sync.WaitGroup
}

func newLeanServer(cgroupDir string) (*leanServer, error) {
	devNull, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	s := &leanServer{devNull: devNull, cgroupFD: -1, live: map[*leanConn]struct{}{}}
	if cgroupDir != "" {
		// O_PATH, as fcgi-wrap opens a request's cgroup.
		if s.cgroupFD, err = unix.Open(cgroupDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			unix.Close(devNull)
			return nil, err
		}
	}
	return s, nil
}

// close releases what newLeanServer opened, once no script is started.
func (s *leanServer) close() {
	unix.Close(s.devNull)
	if s.cgroupFD >= 0 {
		unix.Close(s.cgroupFD)
	}
}

// serve accepts connections on ln until shutdown closes it, each served
// in a goroutine of its own.
func (s *leanServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	closing := s.live == nil
	s.mu.Unlock()
	if closing {
		ln.Close()
		return
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return
			}
			// Out of descriptors, most likely: connections that end
			// will free some.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := &leanConn{nc: nc}
		if !s.add(c) {
			nc.Close()
			return
		}
		go func() {
			defer s.conns.Done()
			defer s.remove(c)
			s.serveConn(c)
		}()
	}
}

// add registers c and counts its goroutine in conns, unless shutdown has
// begun.
func (s *leanServer) add(c *leanConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		return false
	}
	s.live[c] = struct{}{}
	s.conns.Add(1)
	return true
}

func (s *leanServer) remove(c *leanConn) {
	c.nc.Close()
	s.mu.Lock()
	delete(s.live, c)
	s.mu.Unlock()
}

// shutdown stops accepting, closes every connection and kills every
// running script's process group, so that every connection's goroutine
// ends. It may be called more than once.
func (s *leanServer) shutdown() {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.live {
		c.nc.Close()
		c.kill()
	}
	s.live = nil
}

// drain waits for the connections' goroutines, at most for d: one still
// running then is held by a script's descendant that left its group, and
// ends with the process.
func (s *leanServer) drain(d time.Duration) {
	done := make(chan struct{})
	// Owned by drain, which waits for it unless d runs out first.
	go func() {
		s.conns.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// leanConn is a connection being served, and the process group of its
// script while that runs.
type leanConn struct {
	nc   net.Conn
	mu   sync.Mutex
	pgid int // 0 when no script runs, or it is about to be reaped
}

// started records the script's process group, and kills it if shutdown
// began meanwhile: shutdown stores closing before it looks at pgid, and
// this stores pgid before it looks at closing, so one of them kills it.
func (c *leanConn) started(s *leanServer, pgid int) {
	c.mu.Lock()
	c.pgid = pgid
	c.mu.Unlock()
	if s.closing.Load() {
		c.kill()
	}
}

// ending forgets the script's process group before it is reaped: once
// reaped, its id may name another group.
func (c *leanConn) ending() {
	c.mu.Lock()
	c.pgid = 0
	c.mu.Unlock()
}

func (c *leanConn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pgid > 0 {
		_ = unix.Kill(-c.pgid, unix.SIGKILL)
	}
}
