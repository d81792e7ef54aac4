package main

import (
	"testing"
	"time"
)

// wrkOutput is wrk 4.1's report, as printed by the Debian package.
func wrkOutput(latency50, latency99, nonOK, sockErrs string) string {
	s := "Running 2s test @ http://127.0.0.1:8080/fw/\n" +
		"  2 threads and 8 connections\n" +
		"  Thread Stats   Avg      Stdev     Max   +/- Stdev\n" +
		"    Latency    13.22ms    4.06ms  40.11ms   80.12%\n" +
		"    Req/Sec   303.84     25.21   350.00     70.00%\n" +
		"  Latency Distribution\n" +
		"     50%   " + latency50 + "\n" +
		"     75%   14.20ms\n" +
		"     90%   17.01ms\n" +
		"     99%   " + latency99 + "\n" +
		"  1214 requests in 2.00s, 180.21KB read\n"
	if sockErrs != "" {
		s += "  Socket errors: " + sockErrs + "\n"
	}
	if nonOK != "" {
		s += "  Non-2xx or 3xx responses: " + nonOK + "\n"
	}
	return s + "Requests/sec:    606.12\nTransfer/sec:     90.01KB\n"
}

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want wrkResult
	}{
		{"clean run", wrkOutput("12.40ms", "30.02ms", "", ""),
			wrkResult{Requests: 1214, RPS: 606.12, P50: 12400 * time.Microsecond, P99: 30020 * time.Microsecond}},
		{"microseconds and seconds", wrkOutput("870.00us", "1.50s", "", ""),
			wrkResult{Requests: 1214, RPS: 606.12, P50: 870 * time.Microsecond, P99: 1500 * time.Millisecond}},
		{"errors are summed", wrkOutput("1.00ms", "2.00ms", "7", "connect 1, read 2, write 3, timeout 4"),
			wrkResult{Requests: 1214, RPS: 606.12, P50: time.Millisecond, P99: 2 * time.Millisecond, Non2xx: 7, SockErrs: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkErrors(t *testing.T) {
	tests := []struct {
		name string
		out  string
	}{
		{"no summary", "unable to connect to 127.0.0.1:8080 Connection refused\n"},
		{"bad latency unit", wrkOutput("12.40xs", "1ms", "", "")},
		{"bad rate", "Requests/sec: fast\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseWrk(tt.out); err == nil {
				t.Errorf("got %+v, nil; want an error", got)
			}
		})
	}
}

func TestWrkAsLoad(t *testing.T) {
	r := wrkAsLoad(wrkResult{Requests: 1000, RPS: 500, P50: time.Millisecond, P99: 9 * time.Millisecond, Non2xx: 10, SockErrs: 2})
	if got, want := r.rps(), 495.0; got != want {
		t.Errorf("rps: got %v, want %v", got, want)
	}
	if r.p(50) != time.Millisecond || r.p(99) != 9*time.Millisecond {
		t.Errorf("p50, p99: got %v, %v, want 1ms, 9ms", r.p(50), r.p(99))
	}
	if r.Errors != 12 {
		t.Errorf("errors: got %d, want 12", r.Errors)
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOutput("12.40ms", "30.02ms", "3", "connect 0, read 1, write 0, timeout 0"))
	f.Add("Requests/sec: 1e3\n     99%   2.0h\n")
	f.Add("  x requests in 1s\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err != nil {
			return
		}
		if r.P50 < 0 || r.P99 < 0 {
			t.Errorf("negative latency: %+v", r)
		}
	})
}
