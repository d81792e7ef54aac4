package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
	"golang.org/x/sys/unix"
)

// bareSpawn is the limit no wrapper can beat: the same script started
// with the same environment and a stdout pipe, read to EOF and reaped, in
// a loop at the given concurrency for dur. It spawns as fcgi-wrap does
// (os/exec, own process group), so the gap to it is the wrapper's own
// per-request work.
func bareSpawn(ctx context.Context, script string, params []wire.Pair, concurrency int, dur time.Duration) loadResult {
	env := scriptEnv(params)
	deadline := time.Now().Add(dur)
	results := make([]loadResult, concurrency)
	start := time.Now()
	// workers waits for the spawn loops; each owns results[i].
	var workers sync.WaitGroup
	for i := range concurrency {
		workers.Go(func() {
			res := &results[i]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				n, err := spawnOnce(ctx, script, env)
				if err != nil {
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
					continue
				}
				res.Requests++
				res.BytesOut += n
				res.Latencies = append(res.Latencies, time.Since(t0))
			}
		})
	}
	workers.Wait()
	return mergeResults(results, time.Since(start))
}

func spawnOnce(ctx context.Context, script string, env []string) (int64, error) {
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, out)
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	return n, err
}

// scriptEnv is the environment a wrapper gives a script for params.
func scriptEnv(params []wire.Pair) []string {
	env := make([]string, 0, len(params)+1)
	for _, p := range params {
		env = append(env, p.Name+"="+p.Value)
	}
	return append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
}

// fcgi-wrap's end of a script's stdout: internal/gateway/output.go reads
// it 64 KiB at a time (outputChunk), and spawner/pipe_linux.go asks for
// a 1 MiB pipe (defaultPipeSize).
const (
	pipeReadSize = 64 << 10
	pipeSize     = 1 << 20
)

// referenceCommand is script as the pipe references run it: with the
// environment the wrappers give it, in its directory, in its own process
// group.
func referenceCommand(ctx context.Context, script string, params []wire.Pair) *exec.Cmd {
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = scriptEnv(params)
	cmd.Dir = filepath.Dir(script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// referencePipe makes a pipe of the size fcgi-wrap sets, with one end for
// the harness and one for the program, which reads from it if childReads.
// child.Fd() sets the program's end blocking, as its stdio should be; the
// harness's end stays non-blocking in the runtime's poller, as fcgi-wrap's
// end is.
func referencePipe(childReads bool) (ours, child *os.File, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	ours, child = r, w
	if childReads {
		ours, child = w, r
	}
	if _, err := unix.FcntlInt(child.Fd(), unix.F_SETPIPE_SZ, pipeSize); err != nil {
		r.Close()
		w.Close()
		return nil, nil, fmt.Errorf("pipe reference: F_SETPIPE_SZ %d: %w", pipeSize, err)
	}
	return ours, child, nil
}

// pipeRead is the reference for the large response: the same program, with
// the environment the wrappers give it, writing into a plain pipe of the
// size fcgi-wrap sets, read in fcgi-wrap's read size and discarded, and
// reaped at the end. What a wrapper costs beyond this is its forwarding:
// records, the socket, and the client reading them. The result counts the
// response body, what follows the program's head.
func pipeRead(ctx context.Context, script string, params []wire.Pair) (loadResult, error) {
	r, w, err := referencePipe(false)
	if err != nil {
		return loadResult{}, err
	}
	defer r.Close()
	cmd := referenceCommand(ctx, script, params)
	cmd.Stdout = w
	start := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return loadResult{}, err
	}
	var out respCheck
	err = drain(r, &out, pipeReadSize)
	// Should reading stop early, the program meets a closed pipe rather
	// than a full one.
	r.Close()
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	res := loadResult{Elapsed: time.Since(start)}
	switch {
	case err != nil:
		return res, fmt.Errorf("pipe reference: %w", err)
	case !out.complete() || out.status != 200:
		return res, fmt.Errorf("pipe reference: no complete head with status 200 (status %d)", out.status)
	}
	res.Requests, res.BytesOut = 1, out.body
	return res, nil
}

// drain copies r to w in reads of size bytes (io.Copy would let an
// *os.File choose its own).
func drain(r io.Reader, w io.Writer, size int) error {
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		if _, werr := w.Write(buf[:n]); werr != nil {
			return werr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// pipeWrite is the reference for the large upload: the same program, with
// the environment the wrappers give it, reading size zero bytes from a
// plain pipe of the size fcgi-wrap sets for a large body, written in the
// load generator's record size from a buffer cleared before each write,
// as the generator's body reader does. What a wrapper costs beyond this
// is its forwarding: records, the socket, the client's writes into it.
// The program must answer with the count, as cgi/count.c does.
func pipeWrite(ctx context.Context, script string, params []wire.Pair, size int64) (loadResult, error) {
	w, r, err := referencePipe(true)
	if err != nil {
		return loadResult{}, err
	}
	defer w.Close()
	cmd := referenceCommand(ctx, script, params)
	cmd.Stdin = r
	var out respCheck
	cmd.Stdout = &out
	start := time.Now()
	err = cmd.Start()
	r.Close()
	if err != nil {
		return loadResult{}, err
	}
	buf := make([]byte, wire.MaxContent)
	for left := size; left > 0 && err == nil; {
		n := min(left, int64(len(buf)))
		clear(buf[:n])
		_, err = w.Write(buf[:n])
		left -= n
	}
	w.Close()
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	res := loadResult{Elapsed: time.Since(start)}
	want := int64(len(strconv.FormatInt(size, 10)) + 1)
	switch {
	case err != nil:
		return res, fmt.Errorf("pipe reference: %w", err)
	case !out.complete() || out.status != 200 || out.body != want:
		return res, fmt.Errorf("pipe reference: want a complete head with status 200 and a %d-byte count (status %d, %d bytes)", want, out.status, out.body)
	}
	res.Requests, res.BytesIn = 1, size
	return res, nil
}
