package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// row is one line of the comparison table: the same scenario for
// fcgi-wrap, fcgiwrap and the machine's limit, with ratios from the same
// rounds.
type row struct {
	Section   string
	Scenario  string
	FW        string
	Other     string
	Limit     string // "" when the scenario has no limit to compare with
	VsOther   float64
	VsLimit   float64
	VsOtherOK string // overrides VsOther's text, e.g. "fcgiwrap hung"
	// CPUVsOther is fcgi-wrap's daemon CPU per request (per GiB for a
	// stream) over fcgiwrap's, paired by round; 0 when either is missing.
	CPUVsOther float64
	// Lean is the lean wrapper's cell (lean.go); "" when it did not run,
	// and a section none of whose rows has one shows no lean columns.
	Lean string
	// VsLean and CPUVsLean are fcgi-wrap's rate and daemon CPU per
	// request over the lean wrapper's, paired by round; 0 when missing.
	VsLean, CPUVsLean float64
}

// target is one of the issues' targets and what this run measured for it.
type target struct {
	Name string
	// Issue is the issue that set it: 16, or 8 for the capacity targets
	// that issue 16 left as they were.
	Issue int
	Got   float64
	Need  float64
	// AtMost flips the comparison: met when Got <= Need (memory, latency,
	// a CPU ratio).
	AtMost bool
	// Format prints Got and Need, e.g. "%.2fx" or "%.1f MiB".
	Format string
	// Missing means the run could not measure it; it counts as not met.
	Missing string
}

// ratioTarget is a target on a paired ratio of fcgi-wrap's figures a. It
// is not met when fcgi-wrap failed requests (a rate with failures is no
// rate) or when no round measured both sides: a ratio of 0 would pass
// every "at most".
func ratioTarget(issue int, name string, got float64, atMost bool, need float64, a summary) target {
	t := target{Name: name, Issue: issue, Got: got, Need: need, AtMost: atMost, Format: "%.2fx"}
	switch {
	case a.errors > 0:
		t.Missing = fmt.Sprintf("%d requests failed", a.errors)
	case got <= 0:
		t.Missing = "not measured"
	}
	return t
}

func (t target) met() bool {
	if t.Missing != "" {
		return false
	}
	if t.AtMost {
		return t.Got <= t.Need
	}
	return t.Got >= t.Need
}

// score is how far past the threshold the measurement lies, 1 being just
// met, so targets of different units share one chart axis.
func (t target) score() float64 {
	switch {
	case t.Missing != "":
		return 0
	case t.AtMost && t.Got <= 0:
		// Nothing at all (no failures): as good as it gets.
		return math.Inf(1)
	case t.AtMost:
		return t.Need / t.Got
	case t.Need <= 0:
		return 0
	default:
		return t.Got / t.Need
	}
}

func (t target) gotText() string {
	if t.Missing != "" {
		return t.Missing
	}
	return fmt.Sprintf(t.Format, t.Got)
}

func (t target) needText() string {
	op := "≥"
	if t.AtMost {
		op = "≤"
	}
	return op + " " + fmt.Sprintf(t.Format, t.Need)
}

// markdown renders the run as the results page: machine, targets, and
// the comparison tables, each heading naming the machine.
func markdown(m machine, cfg *config, rows []row, targets []target, notes []string) string {
	var b strings.Builder
	b.WriteString("# fcgi-wrap benchmark results\n\n")
	fmt.Fprintf(&b, "Run on %s with `%s` (%d rounds per measurement, alternating the contenders; medians, ratios paired by round).\n\n",
		m.Date.Format(time.DateOnly), cfg.commandLine, cfg.runs)
	b.WriteString("| machine | |\n|---|---|\n")
	for _, kv := range m.rows() {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	writeTargets(&b, m.label(), targets)
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Section == rows[i].Section {
			j++
		}
		writeSection(&b, m.label(), rows[i:j])
		i = j
	}
	if len(notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// leanText says what the lean wrapper's columns are, above a table that
// has them.
const leanText = "The **lean Go wrapper** is a reference built into the harness (`bench lean-wrapper`): " +
	"a FastCGI server in Go that does per request only what fcgi-wrap's spawn does: read the request, " +
	"look the script up, start it with pipes in a process group of its own (and a cgroup, as the notes say), " +
	"relay its output and reap it; nothing else. The gap between fcgi-wrap and it is fcgi-wrap's own machinery; " +
	"the gap between it and fcgiwrap is what Go and the spawn cost.\n\n"

// writeSection writes one section's table, with the lean wrapper's
// columns when one of its rows has them.
func writeSection(b *strings.Builder, machine string, rows []row) {
	lean := slices.ContainsFunc(rows, func(r row) bool { return r.Lean != "" })
	fmt.Fprintf(b, "\n## %s, on %s\n\n", rows[0].Section, machine)
	head := "| scenario | fcgi-wrap | fcgiwrap | reference | fcgi-wrap ÷ fcgiwrap | fcgi-wrap ÷ reference | daemon CPU, fcgi-wrap ÷ fcgiwrap |"
	rule := "|---|---|---|---|---|---|---|"
	if lean {
		b.WriteString(leanText)
		head += " lean Go wrapper | fcgi-wrap ÷ lean | daemon CPU, fcgi-wrap ÷ lean |"
		rule += "---|---|---|"
	}
	b.WriteString(head + "\n" + rule + "\n")
	for _, r := range rows {
		vsOther := ratioText(r.VsOther)
		if r.VsOtherOK != "" {
			vsOther = r.VsOtherOK
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |",
			r.Scenario, orDash(r.FW), orDash(r.Other), orDash(r.Limit), vsOther, ratioText(r.VsLimit), ratioText(r.CPUVsOther))
		if lean {
			fmt.Fprintf(b, " %s | %s | %s |", orDash(r.Lean), ratioText(r.VsLean), ratioText(r.CPUVsLean))
		}
		b.WriteString("\n")
	}
}

func writeTargets(b *strings.Builder, machine string, targets []target) {
	met := 0
	for _, t := range targets {
		if t.met() {
			met++
		}
	}
	fmt.Fprintf(b, "\n## Targets on %s: %d of %d met\n\n", machine, met, len(targets))
	b.WriteString("| target | issue | measured | required | met |\n|---|---|---|---|---|\n")
	for _, t := range targets {
		ok := "yes"
		if !t.met() {
			ok = "**no**"
		}
		fmt.Fprintf(b, "| %s | #%d | %s | %s | %s |\n", t.Name, t.Issue, t.gotText(), t.needText(), ok)
	}
}

func ratioText(r float64) string {
	if r <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", r)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// ms formats a latency for the tables.
func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

// us formats a CPU time per request: the figures are fractions of a
// millisecond, and the differences that matter are tens of microseconds.
func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// sizeText prints a byte count in the largest binary unit that divides it.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
