package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// bareSpawn is the limit no wrapper can beat: the same script started
// with the same environment and a stdout pipe, read to EOF and reaped, in
// a loop at the given concurrency for dur. It spawns as fcgi-wrap does
// (os/exec, own process group), so the gap to it is the wrapper's own
// per-request work.
func bareSpawn(ctx context.Context, script string, params []wire.Pair, concurrency int, dur time.Duration) loadResult {
	env := make([]string, 0, len(params)+1)
	for _, p := range params {
		env = append(env, p.Name+"="+p.Value)
	}
	env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
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

// rawPipe measures the machine's pipe throughput the way the targets
// define it: head -c SIZE /dev/zero | cat >/dev/null, in MiB/s.
func rawPipe(ctx context.Context, size int64) (float64, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", "head -c "+strconv.FormatInt(size, 10)+" /dev/zero | cat >/dev/null")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("raw pipe: %v: %s", err, out)
	}
	return float64(size) / (1 << 20) / time.Since(start).Seconds(), nil
}
