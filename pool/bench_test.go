package pool_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

func BenchmarkAcquireRelease(b *testing.B) {
	info := job("bench")
	b.Run("uncontended", func(b *testing.B) {
		p := pool.New(pool.Config{Workers: 1})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			s, err := p.Acquire(ctx, info)
			if err != nil {
				b.Fatal(err)
			}
			s.Release(pool.OK)
		}
	})
	// More goroutines than slots, so most calls queue and are woken by a release.
	b.Run("contended", func(b *testing.B) {
		workers := max(runtime.GOMAXPROCS(0)/2, 1)
		p := pool.New(pool.Config{Workers: workers, Queue: 1 << 20})
		b.SetParallelism(4)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				s, err := p.Acquire(ctx, info)
				if err != nil {
					b.Error(err)
					return
				}
				s.Release(pool.OK)
			}
		})
		if s := p.Snapshot(); s.Active != 0 || s.Queued != 0 {
			b.Errorf("after the run: Active %d Queued %d, want 0 0", s.Active, s.Queued)
		}
	})
}
