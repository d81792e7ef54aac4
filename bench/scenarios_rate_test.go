package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"
)

// TestRateRoundsOrder: every step runs once per round, rounds outermost,
// each round starting with a different contender, and the results come
// back indexed [step][contender][round] whatever the order they ran in.
func TestRateRoundsOrder(t *testing.T) {
	s := &suite{cfg: &config{runs: 2}, log: io.Discard}
	var ran []string
	steps := []rateStep{{conc: 8}, {conc: 64}}
	res, err := s.rateRounds(context.Background(), "tiny", steps, func(st rateStep) []contender {
		var cs []contender
		for _, name := range []string{"a", "b"} {
			cs = append(cs, contender{name, func(context.Context) (loadResult, error) {
				ran = append(ran, fmt.Sprintf("%s%d", name, st.conc))
				return loadResult{Requests: len(ran)}, nil
			}})
		}
		return cs
	})
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	wantRan := []string{"a8", "b8", "a64", "b64", "b8", "a8", "b64", "a64"}
	if !slices.Equal(ran, wantRan) {
		t.Errorf("ran %v, want %v", ran, wantRan)
	}
	// Requests holds the 1-based position each run had in ran.
	want := [][][]int{{{1, 6}, {2, 5}}, {{3, 8}, {4, 7}}}
	for i := range want {
		for k := range want[i] {
			for r := range want[i][k] {
				if got := res[i][k][r].Requests; got != want[i][k][r] {
					t.Errorf("results[%d][%d][%d]: got run %d, want %d", i, k, r, got, want[i][k][r])
				}
			}
		}
	}
}

// rates makes a summary from per-round rates and CPU per request.
func rates(rps []float64, cpu []time.Duration) summary {
	return summary{rps: rps, cpuPerReq: cpu}
}

func TestTinyTargets(t *testing.T) {
	us := func(n ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range n {
			ds = append(ds, time.Duration(x)*time.Microsecond)
		}
		return ds
	}
	sums := []rateSummary{
		{step: rateStep{conc: 1}, fw: rates([]float64{150}, us(200)), other: rates([]float64{100}, us(300))},
		{step: rateStep{conc: 2}, fw: rates([]float64{260}, us(150)), other: rates([]float64{200}, us(300)), bare: rates([]float64{300}, nil)},
		{step: rateStep{conc: 8}, fw: rates([]float64{500}, us(250)), other: rates([]float64{400}, us(300))},
		{step: rateStep{conc: 64}, fw: rates([]float64{450}, us(100)), other: rates([]float64{300}, us(300))},
		{step: rateStep{conc: 8, keepConn: true}, fw: rates([]float64{390}, us(100)), other: rates([]float64{300}, us(300))},
	}
	s := &suite{}
	s.tinyTargets(sums)
	want := []struct {
		name string
		got  float64
		met  bool
	}{
		{"tiny CGI, concurrency 1: req/s vs fcgiwrap", 1.5, true},
		{"tiny CGI, concurrency 2: req/s vs fcgiwrap", 1.3, true},
		{"tiny CGI, concurrency 8: req/s vs fcgiwrap", 1.25, false},
		{"tiny CGI, concurrency 64: req/s vs fcgiwrap", 1.5, true},
		{"tiny CGI, concurrency 8, FCGI_KEEP_CONN: req/s vs fcgiwrap", 1.3, true},
		{"tiny CGI, concurrency 2: req/s vs bare spawn", 260.0 / 300, false},
		{"tiny CGI, concurrency 2: daemon CPU per request vs fcgiwrap", 0.5, true},
		{"tiny CGI, concurrency 8: daemon CPU per request vs fcgiwrap", 250.0 / 300, false},
		{"tiny CGI, fcgi-wrap alone: req/s at concurrency 64 vs at 8", 0.9, false},
	}
	if len(s.targets) != len(want) {
		t.Fatalf("got %d targets, want %d: %+v", len(s.targets), len(want), s.targets)
	}
	for i, w := range want {
		tg := s.targets[i]
		if tg.Name != w.name || tg.Issue != 16 || !near(tg.Got, w.got) || tg.met() != w.met {
			t.Errorf("target %d: got %q #%d %.3f met %v; want %q #16 %.3f met %v", i, tg.Name, tg.Issue, tg.Got, tg.met(), w.name, w.got, w.met)
		}
	}
}

func near(a, b float64) bool { return a > b-1e-9 && a < b+1e-9 }

// TestRateRowLean: a step without FCGI_KEEP_CONN shows the lean wrapper's
// cell and fcgi-wrap's rate and CPU over its, paired by round; a
// keep-conn step, which the lean wrapper does not serve, shows none.
func TestRateRowLean(t *testing.T) {
	us := func(x int) time.Duration { return time.Duration(x) * time.Microsecond }
	rs := rateSummary{
		step:  rateStep{conc: 2},
		fw:    rates([]float64{300, 330}, []time.Duration{us(160), us(170)}),
		other: rates([]float64{300, 300}, []time.Duration{us(130), us(130)}),
		bare:  rates([]float64{500, 500}, nil),
		// Paired by round: 0.75x and 1.10x, CPU 1.6x and 1.7x; the
		// median of two rounds is their mean.
		lean: rates([]float64{400, 300}, []time.Duration{us(100), us(100)}),
	}
	r := rs.row("tiny C CGI", 8)
	if !near(r.VsLean, (300.0/400+330.0/300)/2) || !near(r.CPUVsLean, (1.6+1.7)/2) {
		t.Errorf("got rate ratio %.4f and CPU ratio %.4f, want %.4f and %.4f",
			r.VsLean, r.CPUVsLean, (300.0/400+330.0/300)/2, (1.6+1.7)/2)
	}
	if want := "350 req/s (p50 0.00 ms, p99 0.00 ms; CPU 100 µs/req)"; r.Lean != want {
		t.Errorf("lean cell: got %q, want %q", r.Lean, want)
	}
	rs.step.keepConn = true
	rs.lean = summary{}
	if r := rs.row("tiny C CGI", 8); r.Lean != "" || r.VsLean != 0 || r.CPUVsLean != 0 {
		t.Errorf("keep-conn step: got lean %q, %v, %v; want none", r.Lean, r.VsLean, r.CPUVsLean)
	}
}
