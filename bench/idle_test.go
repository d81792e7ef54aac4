package main

import (
	"net"
	"runtime"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// BenchmarkIdleConnMemory measures what package wire's server alone keeps
// per idle keep-alive connection after one request (heap and goroutine
// stacks, after a full GC), to tell its share of fcgi-wrap's resident
// memory in the idle scenario from the rest of the process's. The client
// side is bare sockets, so it adds next to nothing.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 1000
	sock := serve(b, respond("A: b\r\n\r\n", "ok\n"))
	req := wire.AppendBeginRequest(nil, 1, wire.RoleResponder, wire.FlagKeepConn)
	req = wire.AppendRecord(req, wire.TypeParams, 1, wire.AppendPair(nil, "SCRIPT_FILENAME", "/x"))
	req = wire.AppendRecord(req, wire.TypeParams, 1, nil)
	req = wire.AppendRecord(req, wire.TypeStdin, 1, nil)
	buf := make([]byte, wire.RecordBufSize)
	for b.Loop() {
		before := memNow()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("unix", sock)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			for {
				rec, err := wire.ReadRecord(c, buf)
				if err != nil {
					b.Fatal(err)
				}
				if rec.Type == wire.TypeEndRequest {
					break
				}
			}
		}
		after := memNow()
		for _, c := range conns {
			c.Close()
		}
		b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/conn")
		b.ReportMetric(float64(after.stack-before.stack)/n, "stack-B/conn")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/conn")
	}
}

type memSnap struct {
	heap, stack uint64
	goroutines  int
}

func memNow() memSnap {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSnap{heap: m.HeapInuse, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}
