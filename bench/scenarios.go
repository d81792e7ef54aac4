package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

const sectionDirect = "Straight over the unix socket (our load generator)"

// scenario is one group of measurements, selectable with -only.
type scenario struct {
	name string
	run  func(s *suite, ctx context.Context) error
}

var scenarios = []scenario{
	{"tiny", (*suite).tiny},
	{"shell", (*suite).shell},
	{"response", (*suite).response},
	{"upload", (*suite).upload},
	{"echo", (*suite).echo},
	{"idle", (*suite).idle},
	{"sleepers", (*suite).sleepers},
	{"fairness", (*suite).fairness},
	{"nginx", (*suite).nginx},
}

// requestTimeout bounds one small request; far above any healthy latency,
// it only keeps a wedged daemon from stalling the whole run.
const requestTimeout = 30 * time.Second

func (s *suite) tiny(ctx context.Context) error {
	return s.spawnRate(ctx, "tiny C CGI", s.ws.scripts["tiny"], int64(len("ok\n")), s.cfg.concs, true)
}

func (s *suite) shell(ctx context.Context) error {
	return s.spawnRate(ctx, "shell CGI", s.ws.scripts["shell"], int64(len("ok \n")), s.cfg.shellConcs, false)
}

// spawnRate compares request rates of a small script for each concurrency:
// fcgi-wrap, fcgiwrap, and spawning the script bare.
func (s *suite) spawnRate(ctx context.Context, title, script string, body int64, concs []int, isTiny bool) error {
	fw, other, err := startPair(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	defer other.stop()
	params := cgiParams(script, "", 0)
	for _, c := range concs {
		spec := loadSpec{Network: "unix", Params: params, Concurrency: c, Duration: s.cfg.dur, WantBody: body, Timeout: requestTimeout}
		what := fmt.Sprintf("%s c=%d", title, c)
		res, err := s.alternate(ctx, what, []contender{
			{nameFW, measured(fw, spec)},
			{nameFcgiwrap, measured(other, spec)},
			{"bare spawn", func(ctx context.Context) (loadResult, error) {
				return bareSpawn(ctx, script, params, c, s.cfg.dur), nil
			}},
		})
		if err != nil {
			return err
		}
		a, b, lim := summarize(res[0]), summarize(res[1]), summarize(res[2])
		r := row{
			Section:  sectionDirect,
			Scenario: fmt.Sprintf("%s, concurrency %d, %d workers", title, c, s.cfg.workers),
			FW:       a.rpsText(), Other: b.rpsText(), Limit: "bare spawn: " + lim.rpsText(),
			VsOther: pairedRatio(a.rps, b.rps), VsLimit: pairedRatio(a.rps, lim.rps),
			CPUVsOther: cpuRatio(a, b, false),
		}
		s.rows = append(s.rows, r)
		if isTiny && (c == 2 || c == 8) {
			s.targets = append(s.targets,
				s.errorsOr(a, target{Name: fmt.Sprintf("tiny CGI, concurrency %d: req/s vs fcgiwrap", c), Got: r.VsOther, Need: 1.8, Format: "%.2fx"}),
				s.errorsOr(a, target{Name: fmt.Sprintf("tiny CGI, concurrency %d: req/s vs bare spawn", c), Got: r.VsLimit, Need: 0.85, Format: "%.2fx"}))
		}
	}
	if !isTiny || ctx.Err() != nil {
		return ctx.Err()
	}
	// KEEP_CONN, at a concurrency where fcgiwrap's workers are not starved
	// by connections they cannot leave.
	c := min(8, s.cfg.workers)
	spec := loadSpec{Network: "unix", Params: params, Concurrency: c, Duration: s.cfg.dur, WantBody: body, Timeout: requestTimeout, KeepConn: true}
	what := fmt.Sprintf("%s c=%d keep-conn", title, c)
	res, err := s.alternate(ctx, what, []contender{
		{nameFW, measured(fw, spec)},
		{nameFcgiwrap, measured(other, spec)},
	})
	if err != nil {
		return err
	}
	a, b := summarize(res[0]), summarize(res[1])
	s.rows = append(s.rows, row{
		Section:  sectionDirect,
		Scenario: fmt.Sprintf("%s, concurrency %d, FCGI_KEEP_CONN", title, c),
		FW:       a.rpsText(), Other: b.rpsText(),
		VsOther: pairedRatio(a.rps, b.rps), CPUVsOther: cpuRatio(a, b, false),
	})
	return nil
}

// errorsOr turns a target into "not met" when fcgi-wrap failed requests:
// a rate with failures is no rate.
func (s *suite) errorsOr(a summary, t target) target {
	if a.errors > 0 {
		t.Missing = fmt.Sprintf("%d requests failed", a.errors)
	}
	return t
}

// measured is a contender that runs spec against srv and records the
// server's CPU time.
func measured(srv *server, spec loadSpec) func(ctx context.Context) (loadResult, error) {
	return func(ctx context.Context) (loadResult, error) {
		return withCPU(srv, func() loadResult { return runLoad(ctx, at(spec, srv)) }), nil
	}
}

// at points spec at a server.
func at(spec loadSpec, srv *server) loadSpec {
	spec.Addr = srv.sock
	return spec
}

func (s *suite) response(ctx context.Context) error {
	fw, other, err := startPair(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	defer other.stop()
	size := s.cfg.bigSize
	spec := loadSpec{Network: "unix", Params: cgiParams(s.ws.scripts["big"], strconv.FormatInt(size, 10), 0),
		Concurrency: 1, PerWorker: 1, WantBody: size, Timeout: 5 * time.Minute}
	res, err := s.alternate(ctx, "response "+sizeText(size), []contender{
		{nameFW, measured(fw, spec)},
		{nameFcgiwrap, measured(other, spec)},
		{"pipe", func(ctx context.Context) (loadResult, error) { return pipeRead(ctx, s.ws.scripts["big"], spec.Params) }},
	})
	if err != nil {
		return err
	}
	a, b, lim := summarize(res[0]), summarize(res[1]), summarize(res[2])
	r := row{
		Section:  sectionDirect,
		Scenario: sizeText(size) + " response (C program, 128 KiB writes)",
		FW:       a.mibText(), Other: b.mibText(), Limit: "same program into a pipe (64 KiB reads): " + lim.mibText(),
		VsOther: pairedRatio(a.mibps, b.mibps), VsLimit: pairedRatio(a.mibps, lim.mibps),
		CPUVsOther: cpuRatio(a, b, true),
	}
	s.rows = append(s.rows, r)
	s.targets = append(s.targets,
		s.errorsOr(a, target{Name: sizeText(size) + " response: MiB/s vs fcgiwrap", Got: r.VsOther, Need: 3, Format: "%.2fx"}),
		s.errorsOr(a, target{Name: sizeText(size) + " response: MiB/s vs the same program into a pipe", Got: r.VsLimit, Need: 0.7, Format: "%.2fx"}))
	return nil
}

func (s *suite) upload(ctx context.Context) error {
	fw, other, err := startPair(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	defer other.stop()
	size := s.cfg.bigSize
	spec := loadSpec{Network: "unix", Params: cgiParams(s.ws.scripts["count"], "", size),
		Concurrency: 1, PerWorker: 1, Body: size, WantBody: int64(len(strconv.FormatInt(size, 10)) + 1), Timeout: 5 * time.Minute}
	res, err := s.alternate(ctx, "upload "+sizeText(size), []contender{
		{nameFW, measured(fw, spec)},
		{nameFcgiwrap, measured(other, spec)},
	})
	if err != nil {
		return err
	}
	a, b := summarize(res[0]), summarize(res[1])
	r := row{
		Section:  sectionDirect,
		Scenario: sizeText(size) + " upload to a program that counts bytes",
		FW:       a.mibText(), Other: b.mibText(),
		VsOther: pairedRatio(a.mibps, b.mibps), CPUVsOther: cpuRatio(a, b, true),
	}
	s.rows = append(s.rows, r)
	s.targets = append(s.targets,
		s.errorsOr(a, target{Name: sizeText(size) + " upload: MiB/s vs fcgiwrap", Got: r.VsOther, Need: 2, Format: "%.2fx"}))
	return nil
}

// echo sends a body to a program that writes while it reads. fcgiwrap is
// tried once per size, smallest first: once it hangs its worker is stuck
// for good, and a hang costs the timeout plus the abort wait.
func (s *suite) echo(ctx context.Context) error {
	fw, other, err := startPair(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	defer other.stop()
	size := s.cfg.echoSize
	echoSpec := func(size int64) loadSpec {
		return loadSpec{Network: "unix", Params: cgiParams(s.ws.scripts["echo"], "", size),
			Concurrency: 1, PerWorker: 1, Body: size, WantBody: size, Timeout: 5 * time.Minute}
	}
	res, err := s.alternate(ctx, "echo "+sizeText(size), []contender{
		{nameFW, measured(fw, echoSpec(size))},
	})
	if err != nil {
		return err
	}
	a := summarize(res[0])
	var otherText string
	for _, sz := range []int64{64 << 10, 1 << 20, size} {
		spec := echoSpec(sz)
		spec.Timeout = s.cfg.echoTimeout
		r := runLoad(ctx, at(spec, other))
		s.logf("  %-32s %-12s: %s", "echo "+sizeText(sz), nameFcgiwrap, brief(&r))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.Requests == 1 {
			otherText = fmt.Sprintf("completes at %s (%.0f MiB/s)", sizeText(sz), r.mibps())
			continue
		}
		if r.TimedOut {
			otherText += fmt.Sprintf("; **hung** at %s (no reply in %s)", sizeText(sz), s.cfg.echoTimeout)
		} else {
			otherText += fmt.Sprintf("; **failed** at %s: %v", sizeText(sz), r.FirstErr)
		}
		otherText = trimSep(otherText)
		break
	}
	s.rows = append(s.rows, row{
		Section:  sectionDirect,
		Scenario: sizeText(size) + " echo, full duplex (program writes while it reads)",
		FW:       a.mibText(), Other: otherText,
		VsOtherOK: "–",
	})
	done := 0
	for i := range res[0] {
		done += res[0][i].Requests
	}
	t := target{Name: sizeText(size) + " echo: rounds that completed with every byte back", Got: float64(done), Need: float64(s.cfg.runs), Format: "%.0f"}
	s.targets = append(s.targets, t)
	return nil
}

func trimSep(s string) string {
	if len(s) > 2 && s[:2] == "; " {
		return s[2:]
	}
	return s
}
