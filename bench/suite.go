package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// config is what a run measures and for how long; quick mode shrinks it.
type config struct {
	quick       bool
	runs        int           // rounds per measurement; medians are over these
	dur         time.Duration // one timed load run
	workers     int           // fcgi-wrap --workers and fcgiwrap -c for most scenarios
	concs       []int         // concurrencies for the tiny CGI
	shellConcs  []int
	bigSize     int64 // response and upload size
	echoSize    int64
	echoTimeout time.Duration // after this fcgiwrap's echo counts as hung
	idleConns   int
	sleepers    int
	sleepWork   int
	sleepMS     int
	fairConc    int
	fairWork    int
	fairMS      int
	wrkDur      time.Duration
	wrkConcs    []int

	commandLine string
}

func fullConfig() config {
	return config{
		runs: 5, dur: 2 * time.Second, workers: 8,
		concs: []int{1, 2, 8, 64}, shellConcs: []int{2, 8},
		bigSize: 1 << 30, echoSize: 256 << 20, echoTimeout: 10 * time.Second,
		idleConns: 1000,
		sleepers:  256, sleepWork: 16, sleepMS: 250,
		fairConc: 64, fairWork: 8, fairMS: 50,
		wrkDur: 3 * time.Second, wrkConcs: []int{2, 8},
	}
}

func quickConfig() config {
	c := fullConfig()
	c.quick = true
	c.runs = 1
	c.dur = time.Second
	c.bigSize = 256 << 20
	c.echoSize = 64 << 20
	c.echoTimeout = 5 * time.Second
	c.sleepMS = 100
	c.fairMS = 20
	c.wrkDur = 2 * time.Second
	c.wrkConcs = []int{8}
	return c
}

// suite is one run: its workspace, and the rows, targets and notes it
// collects for the report.
type suite struct {
	cfg     *config
	ws      *workspace
	log     io.Writer
	rows    []row
	targets []target
	notes   []string
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

// contender is one side of a comparison: a function that measures once.
type contender struct {
	name string
	run  func(ctx context.Context) (loadResult, error)
}

// alternate runs each contender once per round, starting each round with
// a different one, so slow phases of a shared machine hit all of them
// alike. It returns results[contender][round].
func (s *suite) alternate(ctx context.Context, what string, cs []contender) ([][]loadResult, error) {
	out := make([][]loadResult, len(cs))
	for round := range s.cfg.runs {
		res, err := s.round(ctx, what, round, cs)
		if err != nil {
			return nil, err
		}
		for i := range res {
			out[i] = append(out[i], res[i])
		}
	}
	return out, nil
}

// round runs each contender once, the first being the round's number
// modulo their count. It returns results[contender].
func (s *suite) round(ctx context.Context, what string, round int, cs []contender) ([]loadResult, error) {
	out := make([]loadResult, len(cs))
	for k := range cs {
		i := (round + k) % len(cs)
		res, err := cs[i].run(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", what, cs[i].name, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.logf("  %-32s %-12s round %d: %s", what, cs[i].name, round+1, brief(&res))
		out[i] = res
	}
	return out, nil
}

// brief is a one-line progress report of a run.
func brief(r *loadResult) string {
	s := fmt.Sprintf("%d ok, %d failed, %.0f req/s, %.0f MiB/s, p50 %s, p99 %s",
		r.Requests, r.Errors, r.rps(), r.mibps(), ms(r.p(50)), ms(r.p(99)))
	if r.FirstErr != nil {
		s += fmt.Sprintf(" (first error: %v)", r.FirstErr)
	}
	return s
}

// summary is a contender's results over all rounds, one value per round
// in each slice, so that values of two contenders pair by round.
type summary struct {
	rps, mibps []float64
	p50, p99   []time.Duration
	// cpuPerReq and cpuPerGiB are the daemon's CPU time per served
	// request and per GiB moved, 0 for a round that measured none (a
	// reference has no daemon).
	cpuPerReq, cpuPerGiB []time.Duration
	errors               int
	firstErr             error
}

func summarize(rs []loadResult) summary {
	var s summary
	for i := range rs {
		r := &rs[i]
		s.rps = append(s.rps, r.rps())
		s.mibps = append(s.mibps, r.mibps())
		s.p50 = append(s.p50, r.p(50))
		s.p99 = append(s.p99, r.p(99))
		var perReq, perGiB time.Duration
		if r.cpu > 0 && r.Requests > 0 {
			perReq = r.cpu / time.Duration(r.Requests)
			if b := max(r.BytesIn, r.BytesOut); b > 0 {
				perGiB = time.Duration(float64(r.cpu) * float64(1<<30) / float64(b))
			}
		}
		s.cpuPerReq = append(s.cpuPerReq, perReq)
		s.cpuPerGiB = append(s.cpuPerGiB, perGiB)
		s.errors += r.Errors
		if s.firstErr == nil {
			s.firstErr = r.FirstErr
		}
	}
	return s
}

// rpsText is a request-rate cell: rate, latencies, the daemon's CPU per
// request when measured, and failures if any.
func (s summary) rpsText() string {
	t := fmt.Sprintf("%.0f req/s (p50 %s, p99 %s", median(s.rps), ms(medianDuration(s.p50)), ms(medianDuration(s.p99)))
	if cpu := positive(s.cpuPerReq); len(cpu) > 0 {
		t += fmt.Sprintf("; CPU %s/req", us(medianDuration(cpu)))
	}
	return t + ")" + s.errText()
}

func (s summary) mibText() string {
	t := fmt.Sprintf("%.0f MiB/s", median(s.mibps))
	if cpu := positive(s.cpuPerGiB); len(cpu) > 0 {
		t += fmt.Sprintf(" (CPU %s/GiB)", ms(medianDuration(cpu)))
	}
	return t + s.errText()
}

// positive leaves out the rounds without a figure.
func positive(ds []time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range ds {
		if d > 0 {
			out = append(out, d)
		}
	}
	return out
}

// cpuRatio is the median over rounds of a's CPU per request (or per GiB
// when streaming) divided by b's in the same round; 0 when no round
// measured both.
func cpuRatio(a, b summary, streaming bool) float64 {
	x, y := a.cpuPerReq, b.cpuPerReq
	if streaming {
		x, y = a.cpuPerGiB, b.cpuPerGiB
	}
	return pairedRatio(floats(x), floats(y))
}

func floats(ds []time.Duration) []float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return xs
}

func (s summary) errText() string {
	if s.errors == 0 {
		return ""
	}
	return fmt.Sprintf(", **%d failed**: %v", s.errors, s.firstErr)
}
