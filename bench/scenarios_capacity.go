package main

// The scenarios about capacity rather than speed: memory with many idle
// connections, many sleeping scripts at once, and fairness of the queue.

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// idle holds many keep-alive connections open on fcgi-wrap, each after one
// request, and reads its resident memory. fcgiwrap has no counterpart:
// each of its workers serves one connection at a time.
func (s *suite) idle(ctx context.Context) error {
	fw, err := startFW(ctx, s.ws, s.cfg.workers)
	if err != nil {
		return err
	}
	defer fw.stop()
	before, err := daemonMem(fw)
	if err != nil {
		return err
	}
	held, err := holdConns(ctx, fw.sock, cgiParams(s.ws.scripts["tiny"], "", 0), s.cfg.idleConns)
	defer closeAll(held)
	if err != nil {
		return err
	}
	// Give the runtime a moment to settle after the burst of requests:
	// what matters is the memory idle connections keep, not the burst's.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, err := daemonMem(fw)
	if err != nil {
		return err
	}
	alive := countAlive(ctx, held)
	s.logf("  idle: %d connections, %d answer GET_VALUES, RSS %.1f MiB in %d processes, server %.1f MiB (peak %.1f), before %.1f",
		len(held), alive, mib(after.RSS), after.Procs, mib(after.LeadRSS), mib(after.LeadHWM), mib(before.RSS))
	s.rows = append(s.rows, row{
		Section:  sectionDirect,
		Scenario: fmt.Sprintf("%d idle keep-alive connections, one request each", s.cfg.idleConns),
		FW: fmt.Sprintf("RSS %.1f MiB: server %.1f MiB (%.1f MiB of it its own memory, the rest its binary's pages) + guard %.1f MiB; %.1f MiB in all before, server peak %.1f MiB; %d of %d still answer",
			mib(after.RSS), mib(after.LeadRSS), mib(after.LeadAnon), mib(after.RSS-after.LeadRSS), mib(before.RSS), mib(after.LeadHWM), alive, len(held)),
		Other:     "one connection per worker: cannot hold them",
		VsOtherOK: "–",
	})
	t := target{Issue: 8, Name: fmt.Sprintf("RSS with %d idle connections", s.cfg.idleConns), Got: mib(after.RSS), Need: 30, AtMost: true, Format: "%.1f MiB"}
	if alive != s.cfg.idleConns {
		t.Missing = fmt.Sprintf("%d of %d connections lost", s.cfg.idleConns-alive, s.cfg.idleConns)
	}
	s.targets = append(s.targets, t)
	return nil
}

// sleepers sends many requests at once to scripts that sleep, with fewer
// workers than requests: they must queue, not fail. Each round starts
// fresh daemons so that peak memory is this scenario's.
func (s *suite) sleepers(ctx context.Context) error {
	cfg := s.cfg
	run := func(start func() (*server, error)) func(ctx context.Context) (loadResult, error) {
		return func(ctx context.Context) (loadResult, error) {
			srv, err := start()
			if err != nil {
				return loadResult{}, err
			}
			defer srv.stop()
			spec := loadSpec{Network: "unix", Addr: srv.sock, Params: cgiParams(s.ws.scripts["sleep"], strconv.Itoa(cfg.sleepMS), 0),
				Concurrency: cfg.sleepers, PerWorker: 1, WantBody: 3, Timeout: 2 * time.Minute}
			res := runLoad(ctx, spec)
			m, err := daemonMem(srv)
			res.peak = m.HWM
			return res, err
		}
	}
	res, err := s.alternate(ctx, fmt.Sprintf("%d sleepers", cfg.sleepers), []contender{
		{nameFW, run(func() (*server, error) { return startFW(ctx, s.ws, cfg.sleepWork) })},
		{nameFcgiwrap, run(func() (*server, error) { return startFcgiwrap(ctx, s.ws, cfg.sleepWork) })},
	})
	if err != nil {
		return err
	}
	cell := func(rs []loadResult) (string, int, int64) {
		var fails int
		var peak int64
		var walls []time.Duration
		var firstErr error
		for i := range rs {
			fails += rs[i].Errors
			peak = max(peak, rs[i].peak)
			walls = append(walls, rs[i].Elapsed)
			if firstErr == nil {
				firstErr = rs[i].FirstErr
			}
		}
		t := fmt.Sprintf("%d failed, all done in %s, peak RSS %.1f MiB", fails, ms(medianDuration(walls)), mib(peak))
		if firstErr != nil {
			t += fmt.Sprintf(" (%v)", shortErr(firstErr))
		}
		return t, fails, peak
	}
	a, fails, peak := cell(res[0])
	b, _, _ := cell(res[1])
	ideal := time.Duration(cfg.sleepers/cfg.sleepWork) * time.Duration(cfg.sleepMS) * time.Millisecond
	s.rows = append(s.rows, row{
		Section:  sectionDirect,
		Scenario: fmt.Sprintf("%d concurrent %d ms sleeping scripts, %d workers (ideal %s)", cfg.sleepers, cfg.sleepMS, cfg.sleepWork, ms(ideal)),
		FW:       a, Other: b, VsOtherOK: "–",
	})
	t := target{Issue: 8, Name: fmt.Sprintf("peak RSS with %d concurrent scripts (%d workers)", cfg.sleepers, cfg.sleepWork), Got: mib(peak), Need: 64, AtMost: true, Format: "%.1f MiB"}
	if fails > 0 {
		t.Missing = fmt.Sprintf("%d requests failed", fails)
	}
	s.targets = append(s.targets, t,
		target{Issue: 8, Name: fmt.Sprintf("failures with %d concurrent scripts", cfg.sleepers), Got: float64(fails), Need: 0, AtMost: true, Format: "%.0f"})
	return nil
}

// fairness compares the p99 latency at high concurrency with few workers
// against the single-request latency: with FIFO queueing a request waits
// for about concurrency/workers scripts ahead of it. The script sleeps so
// that the measure is the queue, not the two CPUs (a CPU-bound script
// cannot run 8 at once on 2 cores, whatever the queue does).
func (s *suite) fairness(ctx context.Context) error {
	cfg := s.cfg
	fw, err := startFW(ctx, s.ws, cfg.fairWork)
	if err != nil {
		return err
	}
	defer fw.stop()
	other, err := startFcgiwrap(ctx, s.ws, cfg.fairWork)
	if err != nil {
		return err
	}
	defer other.stop()
	params := cgiParams(s.ws.scripts["sleep"], strconv.Itoa(cfg.fairMS), 0)
	// Each round measures both concurrencies back to back, so the ratio
	// comes from one state of the machine.
	measure := func(srv *server) func(ctx context.Context) (loadResult, error) {
		return func(ctx context.Context) (loadResult, error) {
			single := runLoad(ctx, loadSpec{Network: "unix", Addr: srv.sock, Params: params, Concurrency: 1,
				Duration: cfg.dur, WantBody: 3, Timeout: requestTimeout})
			loaded := runLoad(ctx, loadSpec{Network: "unix", Addr: srv.sock, Params: params, Concurrency: cfg.fairConc,
				Duration: 2 * cfg.dur, WantBody: 3, Timeout: requestTimeout})
			loaded.single = single.p(50)
			loaded.Errors += single.Errors
			if loaded.FirstErr == nil {
				loaded.FirstErr = single.FirstErr
			}
			return loaded, nil
		}
	}
	res, err := s.alternate(ctx, fmt.Sprintf("fairness c=%d", cfg.fairConc), []contender{
		{nameFW, measure(fw)},
		{nameFcgiwrap, measure(other)},
	})
	if err != nil {
		return err
	}
	slots := float64(cfg.fairConc) / float64(cfg.fairWork)
	ratio := func(rs []loadResult) (float64, string) {
		var rs2 []float64
		var singles, p99s []time.Duration
		var fails int
		for i := range rs {
			if rs[i].single > 0 && rs[i].p(99) > 0 {
				rs2 = append(rs2, float64(rs[i].p(99))/(slots*float64(rs[i].single)))
			}
			singles = append(singles, rs[i].single)
			p99s = append(p99s, rs[i].p(99))
			fails += rs[i].Errors
		}
		t := fmt.Sprintf("single %s, p99 at %d: %s = %.2f x (%d/%d x single)",
			ms(medianDuration(singles)), cfg.fairConc, ms(medianDuration(p99s)), median(rs2), cfg.fairConc, cfg.fairWork)
		if fails > 0 {
			t += fmt.Sprintf(", **%d failed**", fails)
		}
		return median(rs2), t
	}
	ra, ta := ratio(res[0])
	rb, tb := ratio(res[1])
	s.rows = append(s.rows, row{
		Section:  sectionDirect,
		Scenario: fmt.Sprintf("queueing: %d ms script, concurrency %d, %d workers", cfg.fairMS, cfg.fairConc, cfg.fairWork),
		FW:       ta, Other: tb, VsOtherOK: "–",
	})
	_ = rb
	t := target{Issue: 8, Name: fmt.Sprintf("p99 at concurrency %d, %d workers, in units of (%d/%d) x single latency", cfg.fairConc, cfg.fairWork, cfg.fairConc, cfg.fairWork),
		Got: ra, Need: 2, AtMost: true, Format: "%.2f"}
	if a := summarize(res[0]); a.errors > 0 {
		t.Missing = fmt.Sprintf("%d requests failed", a.errors)
	}
	s.targets = append(s.targets, t)
	return nil
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}
