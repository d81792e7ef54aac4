package observe

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestAccessLogUsage: a script's uid, CPU and peak memory end its access
// log line (after the fields parsers already know), "-" when a request
// ran no script or the figure was not measured; JSON carries them as
// numbers, and leaves them out when no script ran.
func TestAccessLogUsage(t *testing.T) {
	ran := &Record{Start: time.Unix(0, 0), Method: "GET", URI: "/x", Status: 200, Outcome: "ok",
		UID: 1001, CPU: 12 * time.Millisecond, MemPeak: 5<<20 + 100<<10}
	ran.PID.Store(42)
	noMem := &Record{Start: time.Unix(0, 0), Method: "GET", URI: "/x", Status: 200, Outcome: "ok", UID: 33, CPU: 1500 * time.Microsecond}
	noMem.PID.Store(43)
	refused := &Record{Start: time.Unix(0, 0), Method: "GET", URI: "/x", Status: 404, ExitCode: -1, Outcome: "refused"}
	tests := []struct {
		name     string
		rec      *Record
		wantText string
		wantJSON map[string]any // nil: the key is absent
	}{
		{"cgroup with memory", ran, " outcome=ok uid=1001 cpu=0.012 mem_peak=5.1M\n", map[string]any{"uid": 1001.0, "cpu": 0.012, "mem_peak": 5345280.0}},
		{"no memory controller", noMem, " outcome=ok uid=33 cpu=0.002 mem_peak=-\n", map[string]any{"uid": 33.0, "cpu": 0.0015, "mem_peak": nil}},
		{"no script", refused, " outcome=refused uid=- cpu=- mem_peak=-\n", map[string]any{"uid": nil, "cpu": nil, "mem_peak": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var text, js bytes.Buffer
			NewAccessLog(&text, false).Observe(tt.rec)
			if !strings.HasSuffix(text.String(), tt.wantText) {
				t.Errorf("text: got %q, want it to end with %q", text.String(), tt.wantText)
			}
			NewAccessLog(&js, true).Observe(tt.rec)
			var got map[string]any
			if err := json.Unmarshal(js.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.wantJSON {
				if v, ok := got[k]; (want == nil && ok) || (want != nil && v != want) {
					t.Errorf("JSON %s: got %v (present %v), want %v", k, v, ok, want)
				}
			}
		})
	}
}

func TestAppendBytes(t *testing.T) {
	for n, want := range map[int64]string{512: "512", 4096: "4.0K", 5<<20 + 100<<10: "5.1M", 3 << 30: "3.0G"} {
		if got := string(AppendBytes(nil, n)); got != want {
			t.Errorf("AppendBytes(%d): got %q, want %q", n, got, want)
		}
	}
}

// TestMetricsUsageHistograms: CPU is observed for every script that ran,
// peak memory only where it was measured.
func TestMetricsUsageHistograms(t *testing.T) {
	m := NewMetrics(Gauges{Active: zero, Queued: zero, Workers: zero, Conns: zero, Requests: zero})
	ran := &Record{Outcome: "ok", Status: 200, CPU: 20 * time.Millisecond, MemPeak: 8 << 20}
	ran.PID.Store(7)
	m.Observe(ran)
	noMem := &Record{Outcome: "ok", Status: 200, CPU: time.Millisecond}
	noMem.PID.Store(8)
	m.Observe(noMem)
	m.Observe(&Record{Outcome: "refused", Status: 404})
	for _, tt := range []struct {
		name      string
		h         prometheus.Histogram
		wantCount uint64
		wantSum   float64
	}{
		{"cpu", m.cpu, 2, 0.021},
		{"memory peak", m.memPeak, 1, 8 << 20},
	} {
		var pb dto.Metric
		if err := tt.h.Write(&pb); err != nil {
			t.Fatal(err)
		}
		got := pb.GetHistogram()
		if got.GetSampleCount() != tt.wantCount || math.Abs(got.GetSampleSum()-tt.wantSum) > 1e-9 {
			t.Errorf("%s: got %d samples summing to %v, want %d summing to %v", tt.name, got.GetSampleCount(), got.GetSampleSum(), tt.wantCount, tt.wantSum)
		}
	}
}

func zero() int { return 0 }
