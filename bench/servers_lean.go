package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
)

const nameLean = "lean Go wrapper"

// leanCgroupWait bounds how long removing the lean wrapper's cgroup waits
// for the scripts killed in it to be gone: milliseconds, unless one is
// stuck in the kernel.
const leanCgroupWait = 5 * time.Second

// startLean starts the lean wrapper (lean.go), the harness's own binary
// run as one. Its scripts start in a cgroup made for it, as fcgi-wrap's
// do (--cgroup auto) where the harness's cgroup is writable; note says
// which cgroup, or why none, for the report.
//
// The lean wrapper puts every script in one shared cgroup, where
// fcgi-wrap gives each request one of its own, reused from request to
// request: the same CLONE_INTO_CGROUP at the spawn, without fcgi-wrap's
// bookkeeping around it, which is its machinery, not the floor's.
func startLean(ctx context.Context, ws *workspace) (srv *server, note string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	sock := ws.sockPath("lean")
	argv := []string{exe, leanCommand, "-socket", sock}
	dir, why := makeLeanCgroup(strings.TrimSuffix(filepath.Base(sock), ".sock"))
	if dir != "" {
		argv = append(argv, "-cgroup", dir)
		// The parent, not the cgroup itself: each start makes a cgroup of
		// its own, and the same note from every start is reported once.
		note = fmt.Sprintf("The %s started its scripts in one cgroup shared by all of them, made for it in %s; fcgi-wrap gives each request a cgroup of its own, reused.", nameLean, filepath.Dir(dir))
	} else {
		note = fmt.Sprintf("The %s started its scripts without a cgroup: %s.", nameLean, why)
	}
	// It has no helper processes: its CPU is its own threads'.
	srv, err = startServer(ctx, ws, nameLean, sock, argv, daemonEnv())
	if err != nil {
		removeLeanCgroup(dir)
		return nil, "", err
	}
	srv.cleanup = func() { removeLeanCgroup(dir) }
	return srv, note, nil
}

// makeLeanCgroup makes a cgroup named name in the harness's own, where
// fcgi-wrap, started by the harness, makes its instance's; "" and why
// not when there is no cgroup2 mount or that cgroup is not writable.
func makeLeanCgroup(name string) (dir, why string) {
	own, err := cgroup.OwnDir()
	if err != nil {
		return "", err.Error()
	}
	dir = filepath.Join(own, fmt.Sprintf("fcgi-wrap-bench.%d.%s", os.Getpid(), name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Sprintf("the harness's cgroup %s is not writable (%v)", own, err)
	}
	return dir, ""
}

// removeLeanCgroup kills what is left in dir, once the lean wrapper has
// stopped, and removes it; "" does nothing. A failure is only reported:
// the results stand.
func removeLeanCgroup(dir string) {
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leanCgroupWait)
	defer cancel()
	if err := cgroup.RemoveTree(ctx, dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot remove the %s's cgroup %s: %v\n", nameLean, dir, err)
	}
}
