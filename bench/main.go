// Command bench compares fcgi-wrap with Debian's fcgiwrap on the same CGI
// programs, on this machine, in one run, and checks the targets of issue
// 16: request rate and daemon CPU of a tiny CGI against fcgiwrap, against
// spawning it bare and across concurrencies, and streaming a large
// response and upload; and those of issue 8 it kept: a full-duplex echo,
// memory with idle connections and with many queued scripts, and fair
// queueing. It drives both wrappers with its own FastCGI load generator
// (package wire's client) and, for the tiny CGI, through nginx with wrk.
//
// Usage, from this directory:
//
//	go run . [-quick] [-runs N] [-only tiny,echo,...] [-out results]
//
// It writes results/results.md and results/chart.svg, and copies the
// table into README.md between its results markers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == leanCommand {
		// The harness starts its own binary as the lean wrapper (lean.go).
		err = leanMain(ctx, os.Args[2:])
	} else {
		err = run(ctx, os.Args[1:])
	}
	stop()
	// Whatever happened, no daemon the harness started outlives it.
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a short run (about 1-2 minutes): one round, smaller sizes; writes nothing unless -out is given")
	runs := fs.Int("runs", 0, "rounds per measurement (default 5, or 1 with -quick)")
	only := fs.String("only", "", "comma-separated scenarios to run: "+scenarioNames())
	out := fs.String("out", "results", "directory for results.md and chart.svg (relative to the bench directory)")
	fwBin := fs.String("fcgi-wrap", "", "fcgi-wrap binary to test (default: build this checkout)")
	rev := fs.String("rev", "", "build fcgi-wrap from this commit (e.g. HEAD) instead of the working tree")
	fcgiwrapBin := fs.String("fcgiwrap", "/usr/sbin/fcgiwrap", "Debian's fcgiwrap binary")
	fwEnv := fs.String("fw-env", "", "comma-separated NAME=VALUE added to fcgi-wrap's environment, e.g. GOGC=50,GOMEMLIMIT=16MiB or GODEBUG=gctrace=1 (its log is in the -keep workspace)")
	keep := fs.Bool("keep", false, "keep the temporary workspace (sockets, daemon logs) for inspection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	outSet := false
	fs.Visit(func(f *flag.Flag) { outSet = outSet || f.Name == "out" })

	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
		if !outSet {
			*out = ""
		}
	}
	if *runs > 0 {
		cfg.runs = *runs
	}
	cfg.commandLine = strings.TrimSpace("bench/run " + strings.Join(args, " "))
	selected, err := selectScenarios(*only)
	if err != nil {
		return err
	}

	benchDir, repo, err := findDirs()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: building fcgi-wrap and the CGI programs")
	ws, err := newWorkspace(ctx, repo, *rev, *fwBin, *fcgiwrapBin)
	if err != nil {
		return err
	}
	if *fwEnv != "" {
		ws.fwEnv = strings.Split(*fwEnv, ",")
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "bench: workspace kept in", ws.dir)
	} else {
		defer ws.remove()
	}
	m := probeMachine(repo, *rev, *fwBin, *fcgiwrapBin)
	s := &suite{cfg: &cfg, ws: ws, log: os.Stderr}
	start := time.Now()
	for _, sc := range selected {
		s.logf("bench: %s", sc.name)
		if err := sc.run(s, ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// One broken scenario should not cost the others' results.
			s.notes = append(s.notes, fmt.Sprintf("Scenario %q failed: %v", sc.name, shortErr(err)))
			s.logf("bench: %s failed: %v", sc.name, err)
		}
	}
	s.logf("bench: done in %s", time.Since(start).Round(time.Second))

	md := markdown(m, &cfg, s.rows, s.targets, s.notes)
	fmt.Println(md)
	if *out == "" {
		return nil
	}
	return writeResults(benchDir, *out, md, m, s)
}

// writeResults writes results.md and chart.svg into out (relative to the
// bench directory), and the results into the README when out is the
// committed results directory.
func writeResults(benchDir, out, md string, m machine, s *suite) error {
	dir := out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(benchDir, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	svg := chartSVG(fmt.Sprintf("fcgi-wrap targets on %s (%s)", m.label(), m.Date.Format(time.DateOnly)), s.targets)
	if err := os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(svg), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: wrote", filepath.Join(dir, "results.md"), "and chart.svg")
	// Only the committed results belong in the README: a run written
	// elsewhere (an experiment) leaves it alone.
	if dir != filepath.Join(benchDir, "results") {
		return nil
	}
	readme := filepath.Join(benchDir, "README.md")
	if err := spliceReadme(readme, md); err != nil {
		return fmt.Errorf("updating %s: %w", readme, err)
	}
	return nil
}

func scenarioNames() string {
	var names []string
	for _, sc := range scenarios {
		names = append(names, sc.name)
	}
	return strings.Join(names, ",")
}

func selectScenarios(only string) ([]scenario, error) {
	if only == "" {
		return scenarios, nil
	}
	want := strings.Split(only, ",")
	var out []scenario
	for _, sc := range scenarios {
		if slices.Contains(want, sc.name) {
			out = append(out, sc)
		}
	}
	if len(out) != len(want) {
		return nil, fmt.Errorf("-only %q: scenarios are %s", only, scenarioNames())
	}
	return out, nil
}

// findDirs locates the bench module and the repository around it, whether
// the harness runs from bench/ (go run .) or from the repository root.
func findDirs() (benchDir, repo string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	for _, cand := range []string{wd, filepath.Join(wd, "bench")} {
		b, err := os.ReadFile(filepath.Join(cand, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/fcgi-wrap/fcgi-wrap/bench\n") {
			return cand, filepath.Dir(cand), nil
		}
	}
	return "", "", errors.New("run from the bench directory or the repository root")
}

// Markers around the results in README.md.
const (
	readmeStart = "<!-- results:start (written by bench/run) -->"
	readmeEnd   = "<!-- results:end -->"
)

var errNoMarkers = errors.New("bench: README.md has no results markers")

// spliceReadme replaces what lies between the results markers with md,
// its top heading dropped since the README has its own.
func spliceReadme(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := splice(string(b), md)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func splice(doc, md string) (string, error) {
	i := strings.Index(doc, readmeStart)
	j := strings.Index(doc, readmeEnd)
	if i < 0 || j < i {
		return "", errNoMarkers
	}
	_, body, ok := strings.Cut(md, "\n\n")
	if !ok {
		body = md
	}
	body = strings.ReplaceAll(body, "\n## ", "\n### ")
	return doc[:i+len(readmeStart)] + "\n\n" + strings.TrimSpace(body) + "\n\n" + doc[j:], nil
}
