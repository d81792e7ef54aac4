package main

// One request through the lean wrapper (lean.go), in its phases: read it,
// look the script up, start it, relay its output, reap it, end.

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
	"golang.org/x/sys/unix"
)

var (
	errLeanRecord = errors.New("bench: lean wrapper: a record out of place")
	errLeanBody   = errors.New("bench: lean wrapper: a request with a body")
)

// Sizes of the lean wrapper's buffers: a read of the script's output, of
// the socket, and what is written at once. A tiny request's params (about
// 700 bytes from nginx) and response fit in one of each.
const (
	leanChunk = 16 << 10
	leanFlush = 64 << 10
)

// leanBuffers are one connection's buffers, reused by later connections:
// fresh ones would allocate and clear 32 KiB per request, several times
// what the rest of a tiny request allocates.
type leanBuffers struct {
	in     *bufio.Reader
	rec    []byte // a record's content, then a read of the script's output
	params []byte
	out    []byte // records not yet written
}

var leanPool = sync.Pool{New: func() any {
	return &leanBuffers{in: bufio.NewReaderSize(nil, leanChunk), rec: make([]byte, leanChunk)}
}}

// Minimal answers for a script that cannot be run, in CGI's form.
var (
	leanNotFound = []byte("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnot found\n")
	leanFailed   = []byte("Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\ncannot start the script\n")
)

// serveConn answers the one request c carries; the caller closes it.
func (s *leanServer) serveConn(c *leanConn) {
	b := leanPool.Get().(*leanBuffers)
	defer leanPool.Put(b)
	b.in.Reset(c.nc)
	defer b.in.Reset(nil)
	id, params, err := readLeanRequest(b.in, b.rec, b.params[:0])
	b.params = params
	if err != nil {
		return
	}
	pairs, err := wire.ParsePairs(params)
	if err != nil {
		return
	}
	script, env := leanEnv(pairs)
	b.out = b.out[:0]
	status := uint32(0)
	switch {
	case script == "" || checkScript(script) != nil:
		b.out = wire.AppendRecord(b.out, wire.TypeStdout, id, leanNotFound)
	default:
		status, err = s.run(c, id, script, env, b)
		if errors.Is(err, errLeanStart) {
			b.out = wire.AppendRecord(b.out, wire.TypeStdout, id, leanFailed)
		} else if err != nil {
			return
		}
	}
	b.out = wire.AppendRecord(b.out, wire.TypeStdout, id, nil)
	b.out = wire.AppendEndRequest(b.out, id, wire.EndRequest{AppStatus: status})
	_, _ = c.nc.Write(b.out)
}

// readLeanRequest reads a bodyless request: BEGIN_REQUEST, PARAMS up to
// the empty one, and the empty STDIN. It returns the request's id and its
// params appended to params; any other record is an error.
func readLeanRequest(r io.Reader, buf, params []byte) (uint16, []byte, error) {
	rec, err := wire.ReadRecord(r, buf)
	if err != nil {
		return 0, params, err
	}
	if rec.Type != wire.TypeBeginRequest || rec.ID == 0 {
		return 0, params, errLeanRecord
	}
	if _, _, err := wire.ParseBeginRequest(rec.Content); err != nil {
		return 0, params, err
	}
	id, paramsDone := rec.ID, false
	for {
		rec, err := wire.ReadRecord(r, buf)
		switch {
		case err != nil:
			return 0, params, err
		case rec.ID != id:
			return 0, params, errLeanRecord
		case rec.Type == wire.TypeParams && !paramsDone:
			paramsDone = len(rec.Content) == 0
			params = append(params, rec.Content...)
		case rec.Type == wire.TypeStdin && paramsDone && len(rec.Content) > 0:
			return 0, params, errLeanBody
		case rec.Type == wire.TypeStdin && paramsDone:
			return id, params, nil
		default:
			return 0, params, errLeanRecord
		}
	}
}

// leanEnv is the script's environment, every param as it came and what
// CGI defines when the params lack it, and the script the params name.
func leanEnv(pairs []wire.Pair) (script string, env []string) {
	defaults := [...]struct{ name, value string }{
		{"PATH", cgienv.DefaultPath},
		{"GATEWAY_INTERFACE", "CGI/1.1"},
		{"SERVER_SOFTWARE", "fcgi-wrap-bench-lean"},
	}
	var have [len(defaults)]bool
	env = make([]string, 0, len(pairs)+len(defaults))
	for _, p := range pairs {
		if p.Name == "SCRIPT_FILENAME" {
			script = p.Value
		}
		for i, d := range defaults {
			have[i] = have[i] || p.Name == d.name
		}
		env = append(env, p.Name+"="+p.Value)
	}
	for i, d := range defaults {
		if !have[i] {
			env = append(env, d.name+"="+d.value)
		}
	}
	return script, env
}

// checkScript makes the lookups fcgi-wrap's strict checks make, a stat of
// every directory above script and of script, and the kernel's execute
// check, so that the lean wrapper's system calls per request are
// fcgi-wrap's; of what they find it asks no more than whether the script
// can be run.
func checkScript(script string) error {
	if !filepath.IsAbs(script) {
		return unix.ENOENT
	}
	var st unix.Stat_t
	for i := 1; i < len(script); i++ {
		if script[i] != '/' {
			continue
		}
		if err := unix.Stat(script[:i], &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return unix.ENOTDIR
		}
	}
	if err := unix.Stat(script, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return unix.EACCES
	}
	return unix.Faccessat(unix.AT_FDCWD, script, unix.X_OK, unix.AT_EACCESS)
}

// errLeanStart means the script could not be started, and nothing of the
// response has been sent.
var errLeanStart = errors.New("bench: lean wrapper: cannot start the script")

// run starts script and relays its stdout into STDOUT records in b.out,
// written to c as they pile up; it returns the script's app status once
// it is reaped.
func (s *leanServer) run(c *leanConn, id uint16, script string, env []string, b *leanBuffers) (uint32, error) {
	stdout, stderr, pid, err := s.start(script, env)
	if err != nil {
		return 0, errLeanStart
	}
	c.started(s, pid)
	err = s.relay(c, id, stdout, b)
	// Should relaying stop early, the script meets a closed pipe rather
	// than a full one.
	stdout.Close()
	c.ending()
	status := reap(pid)
	discardStderr(stderr, b.rec)
	return status, err
}

// reap waits for pid to end and returns its app status, decoded as
// fcgi-wrap's spawner decodes it.
func reap(pid int) uint32 {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			return spawner.Exit{Code: -1}.AppStatus()
		default:
			return spawner.ExitOf(ws).AppStatus()
		}
	}
}

// start starts script with /dev/null as its stdin and fresh pipes as its
// stdout and stderr, and returns our ends: stdout non-blocking in the
// runtime's poller, stderr a bare descriptor.
func (s *leanServer) start(script string, env []string) (stdout *os.File, stderr, pid int, err error) {
	var out, errp [2]int
	if err := unix.Pipe2(out[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, 0, err
	}
	// Only our end: O_NONBLOCK belongs to each end's open file.
	err = unix.SetNonblock(out[0], true)
	if err == nil {
		err = unix.Pipe2(errp[:], unix.O_CLOEXEC)
	}
	if err != nil {
		unix.Close(out[0])
		unix.Close(out[1])
		return nil, -1, 0, err
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	if s.cgroupFD >= 0 {
		sys.UseCgroupFD, sys.CgroupFD = true, s.cgroupFD
	}
	pid, err = syscall.ForkExec(script, []string{script}, &syscall.ProcAttr{
		Dir:   filepath.Dir(script),
		Env:   env,
		Files: []uintptr{uintptr(s.devNull), uintptr(out[1]), uintptr(errp[1])},
		Sys:   sys,
	})
	// The child has its copies; ours would hide EOF.
	unix.Close(out[1])
	unix.Close(errp[1])
	if err != nil {
		unix.Close(out[0])
		unix.Close(errp[0])
		return nil, -1, 0, err
	}
	return os.NewFile(uintptr(out[0]), "stdout"), errp[0], pid, nil
}

// relay reads stdout to EOF into STDOUT records, written to c whenever
// leanFlush bytes of them pile up; the rest stays in b.out.
func (s *leanServer) relay(c *leanConn, id uint16, stdout *os.File, b *leanBuffers) error {
	for {
		n, err := stdout.Read(b.rec)
		if n > 0 {
			b.out = wire.AppendRecord(b.out, wire.TypeStdout, id, b.rec[:n])
		}
		if len(b.out) >= leanFlush {
			if _, werr := c.nc.Write(b.out); werr != nil {
				return werr
			}
			b.out = b.out[:0]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// discardStderr reads what the script's stderr holds without waiting for
// more, which a descendant of the script could hold open, and closes it.
func discardStderr(fd int, buf []byte) {
	if unix.SetNonblock(fd, true) == nil {
		for {
			n, err := unix.Read(fd, buf)
			if n <= 0 || err != nil {
				break
			}
		}
	}
	unix.Close(fd)
}
