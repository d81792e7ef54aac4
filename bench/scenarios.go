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
		ratioTarget(16, sizeText(size)+" response: MiB/s vs fcgiwrap", r.VsOther, false, 3, a),
		ratioTarget(16, sizeText(size)+" response: MiB/s vs the same program into a pipe", r.VsLimit, false, 0.8, a))
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
		{"pipe", func(ctx context.Context) (loadResult, error) {
			return pipeWrite(ctx, s.ws.scripts["count"], spec.Params, size)
		}},
	})
	if err != nil {
		return err
	}
	a, b, lim := summarize(res[0]), summarize(res[1]), summarize(res[2])
	r := row{
		Section:  sectionDirect,
		Scenario: sizeText(size) + " upload to a program that counts bytes",
		FW:       a.mibText(), Other: b.mibText(), Limit: "same program from a pipe (64 KiB writes): " + lim.mibText(),
		VsOther: pairedRatio(a.mibps, b.mibps), VsLimit: pairedRatio(a.mibps, lim.mibps),
		CPUVsOther: cpuRatio(a, b, true),
	}
	s.rows = append(s.rows, r)
	s.targets = append(s.targets,
		ratioTarget(16, sizeText(size)+" upload: MiB/s vs fcgiwrap", r.VsOther, false, 3, a))
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
	t := target{Name: sizeText(size) + " echo: rounds that completed with every byte back", Issue: 8, Got: float64(done), Need: float64(s.cfg.runs), Format: "%.0f"}
	s.targets = append(s.targets, t)
	return nil
}

func trimSep(s string) string {
	if len(s) > 2 && s[:2] == "; " {
		return s[2:]
	}
	return s
}
