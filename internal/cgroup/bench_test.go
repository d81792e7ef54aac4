package cgroup

import (
	"context"
	"io"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// BenchmarkRequest is what a request's script costs with and without a
// cgroup of its own, with 4 requests per CPU at once (as at concurrency
// 8 on 2 CPUs): start /bin/true through spawner, read its stdout to EOF,
// reap it, kill what is left (the gateway's KillNow), read its CPU, and
// with a cgroup get it first (made afresh, or an empty one reused) and
// give it back last. Compare the ns/op from one run:
//
//	go test -run X -bench Request ./internal/cgroup
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []string{"process-group", "cgroup-fresh", "cgroup-reused"} {
		b.Run(mode, func(b *testing.B) {
			var tree *Tree
			if mode != "process-group" {
				var err error
				if tree, _, err = Setup(Options{Mode: testBase(b), Fresh: mode == "cgroup-fresh"}); err != nil {
					b.Fatal(err)
				}
				defer tree.Close(context.Background())
			}
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := oneRequest(tree); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// oneRequest is the spawner and cgroup work of one request; tree nil
// means no cgroup.
func oneRequest(tree *Tree) error {
	ctx := context.Background()
	cfg := spawner.Config{Path: "/bin/true", NoStdin: true}
	var r *Request
	if tree != nil {
		var err error
		if r, err = tree.New(); err != nil {
			return err
		}
		defer r.Remove(ctx)
		cfg.Cgroup = r
	}
	p, err := spawner.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	io.Copy(io.Discard, p.Stdout())
	<-p.Done()
	p.KillNow()
	if r != nil {
		_ = r.Usage()
	} else {
		_ = p.CPUTime()
	}
	return nil
}
