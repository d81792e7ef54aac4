package cgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// staleWait bounds how long removing one stale tree waits for its
// processes to die after cgroup.kill: they die within milliseconds unless
// stuck in the kernel (uninterruptible sleep on a dead NFS server).
const staleWait = 5 * time.Second

// cleanStale kills and removes the trees under base that instances which
// are gone left behind: fcgi-wrap and its guard both killed, or a clean
// exit that could not move fcgi-wrap back out of its leaf after it gave
// up root. An instance is named by its pid, so a tree whose pid is not a
// live process is stale, and so is one named by our own pid, which we
// have not made yet. A pid reused by an unrelated process keeps its
// tree until a later start; the tree's scripts were killed by the guard
// when their fcgi-wrap died. (Instances in different pid namespaces must
// not share a directory: each would take the other's pids for dead.)
func cleanStale(base string, self int) []string {
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), instancePrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), instancePrefix) || err != nil || pid <= 0 {
			continue
		}
		if pid != self && !errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), staleWait)
		dir := filepath.Join(base, e.Name())
		if RemoveTree(ctx, dir) == nil {
			removed = append(removed, dir)
		}
		cancel()
	}
	return removed
}

// RemoveTree kills every process in dir and below, and removes the
// directories deepest first, retrying each as its processes die until ctx
// ends. A dir that is already gone is no error.
func RemoveTree(ctx context.Context, dir string) error {
	// cgroup.kill covers the descendants; a tree without one (before
	// Linux 5.14) never got this far.
	writeFile(filepath.Join(dir, "cgroup.kill"), "1")
	var first error
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			if err := RemoveTree(ctx, filepath.Join(dir, e.Name())); err != nil && first == nil {
				first = err
			}
		}
	}
	parent, err := openDir(filepath.Dir(dir))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	kill := func() { writeFile(filepath.Join(dir, "cgroup.kill"), "1") }
	if err := removeAt(ctx, parent, filepath.Base(dir), kill); err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return first
}
