package main

// The request-rate scenarios: a small script at several concurrencies,
// through fcgi-wrap, through fcgiwrap, through the lean wrapper, and
// spawned bare.

import (
	"context"
	"fmt"
	"slices"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

func (s *suite) tiny(ctx context.Context) error {
	return s.spawnRate(ctx, "tiny C CGI", s.ws.scripts["tiny"], int64(len("ok\n")), s.cfg.concs, true)
}

func (s *suite) shell(ctx context.Context) error {
	return s.spawnRate(ctx, "shell CGI", s.ws.scripts["shell"], int64(len("ok \n")), s.cfg.shellConcs, false)
}

// rateStep is one measurement of a small script's request rate.
type rateStep struct {
	conc int
	// keepConn reuses connections (FCGI_KEEP_CONN); the bare spawn has no
	// connection to reuse, so such a step has no reference.
	keepConn bool
}

func (st rateStep) name() string {
	if st.keepConn {
		return fmt.Sprintf("concurrency %d, FCGI_KEEP_CONN", st.conc)
	}
	return fmt.Sprintf("concurrency %d", st.conc)
}

// rateSummary is one step's results: fcgi-wrap, fcgiwrap, and the bare
// spawn and the lean wrapper (both empty for a keep-conn step).
type rateSummary struct {
	step                  rateStep
	fw, other, bare, lean summary
}

// spawnRate compares request rates of a small script for each concurrency
// (and for the tiny one, with FCGI_KEEP_CONN): fcgi-wrap, fcgiwrap,
// spawning the script bare, and the lean wrapper.
func (s *suite) spawnRate(ctx context.Context, title, script string, body int64, concs []int, isTiny bool) error {
	fw, other, err := startPair(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	defer other.stop()
	lean, note, err := startLean(ctx, s.ws)
	if err != nil {
		return err
	}
	defer lean.stop()
	if !slices.Contains(s.notes, note) {
		s.notes = append(s.notes, note)
	}
	steps := make([]rateStep, 0, len(concs)+1)
	for _, c := range concs {
		steps = append(steps, rateStep{conc: c})
	}
	if isTiny {
		// At a concurrency where fcgiwrap's workers are not starved by
		// connections they cannot leave.
		steps = append(steps, rateStep{conc: min(8, s.cfg.workers), keepConn: true})
	}
	params := cgiParams(script, "", 0)
	res, err := s.rateRounds(ctx, title, steps, func(st rateStep) []contender {
		return s.rateContenders(fw, other, lean, script, params, body, st)
	})
	if err != nil {
		return err
	}
	sums := make([]rateSummary, len(steps))
	for i, st := range steps {
		sums[i] = rateSummary{step: st, fw: summarize(res[i][0]), other: summarize(res[i][1])}
		if !st.keepConn {
			sums[i].bare = summarize(res[i][2])
			sums[i].lean = summarize(res[i][3])
		}
		s.rows = append(s.rows, sums[i].row(title, s.cfg.workers))
	}
	if isTiny {
		s.tinyTargets(sums)
	}
	return nil
}

// rateRounds measures every step once per round, rounds outermost, so
// that round i of every concurrency comes from one pass over the machine:
// figures of two concurrencies then pair by round as two contenders' do.
// It returns results[step][contender][round].
func (s *suite) rateRounds(ctx context.Context, title string, steps []rateStep, contenders func(rateStep) []contender) ([][][]loadResult, error) {
	out := make([][][]loadResult, len(steps))
	for round := range s.cfg.runs {
		for i, st := range steps {
			cs := contenders(st)
			res, err := s.round(ctx, title+", "+st.name(), round, cs)
			if err != nil {
				return nil, err
			}
			if out[i] == nil {
				out[i] = make([][]loadResult, len(cs))
			}
			for k := range res {
				out[i][k] = append(out[i][k], res[k])
			}
		}
	}
	return out, nil
}

// rateContenders are a step's contenders: fcgi-wrap and fcgiwrap, and
// without FCGI_KEEP_CONN the bare spawn and the lean wrapper, which
// serves one request per connection.
func (s *suite) rateContenders(fw, other, lean *server, script string, params []wire.Pair, body int64, st rateStep) []contender {
	spec := loadSpec{Network: "unix", Params: params, Concurrency: st.conc, Duration: s.cfg.dur,
		WantBody: body, Timeout: requestTimeout, KeepConn: st.keepConn}
	cs := []contender{
		{nameFW, measured(fw, spec)},
		{nameFcgiwrap, measured(other, spec)},
	}
	if !st.keepConn {
		cs = append(cs, contender{"bare spawn", func(ctx context.Context) (loadResult, error) {
			return bareSpawn(ctx, script, params, st.conc, s.cfg.dur), nil
		}}, contender{nameLean, measured(lean, spec)})
	}
	return cs
}

func (rs rateSummary) row(title string, workers int) row {
	r := row{
		Section:  sectionDirect,
		Scenario: fmt.Sprintf("%s, %s, %d workers", title, rs.step.name(), workers),
		FW:       rs.fw.rpsText(), Other: rs.other.rpsText(),
		VsOther:    pairedRatio(rs.fw.rps, rs.other.rps),
		CPUVsOther: cpuRatio(rs.fw, rs.other, false),
	}
	if !rs.step.keepConn {
		r.Limit = "bare spawn: " + rs.bare.rpsText()
		r.VsLimit = pairedRatio(rs.fw.rps, rs.bare.rps)
		r.Lean = rs.lean.rpsText()
		r.VsLean = pairedRatio(rs.fw.rps, rs.lean.rps)
		r.CPUVsLean = cpuRatio(rs.fw, rs.lean, false)
	}
	return r
}

// tinyTargets are issue 16's targets on the tiny CGI: its rate against
// fcgiwrap's at every concurrency and against the bare spawn, the
// daemon's CPU per request against fcgiwrap's, and that fcgi-wrap does
// not slow down when 64 requests queue for 8 workers.
func (s *suite) tinyTargets(sums []rateSummary) {
	find := func(c int) (rateSummary, bool) {
		for _, rs := range sums {
			if rs.step.conc == c && !rs.step.keepConn {
				return rs, true
			}
		}
		return rateSummary{}, false
	}
	for _, rs := range sums {
		need := 1.3
		if rs.step.conc == 1 {
			need = 1.5
		}
		s.targets = append(s.targets, ratioTarget(16, "tiny CGI, "+rs.step.name()+": req/s vs fcgiwrap",
			pairedRatio(rs.fw.rps, rs.other.rps), false, need, rs.fw))
	}
	if rs, ok := find(2); ok {
		s.targets = append(s.targets, ratioTarget(16, "tiny CGI, concurrency 2: req/s vs bare spawn",
			pairedRatio(rs.fw.rps, rs.bare.rps), false, 0.9, rs.fw))
	}
	for _, c := range []int{2, 8} {
		if rs, ok := find(c); ok {
			s.targets = append(s.targets, ratioTarget(16, fmt.Sprintf("tiny CGI, concurrency %d: daemon CPU per request vs fcgiwrap", c),
				cpuRatio(rs.fw, rs.other, false), true, 0.7, rs.fw))
		}
	}
	c8, ok8 := find(8)
	c64, ok64 := find(64)
	if ok8 && ok64 {
		both := c64.fw
		both.errors += c8.fw.errors
		s.targets = append(s.targets, ratioTarget(16, "tiny CGI, fcgi-wrap alone: req/s at concurrency 64 vs at 8",
			pairedRatio(c64.fw.rps, c8.fw.rps), false, 1.0, both))
	}
}
