package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestTargetMet(t *testing.T) {
	tests := []struct {
		name      string
		t         target
		wantMet   bool
		wantScore float64
	}{
		{"at least, met", target{Got: 3.6, Need: 1.8}, true, 2},
		{"at least, missed", target{Got: 0.9, Need: 1.8}, false, 0.5},
		{"at most, met", target{Got: 15, Need: 30, AtMost: true}, true, 2},
		{"at most, missed", target{Got: 60, Need: 30, AtMost: true}, false, 0.5},
		{"at most zero, met", target{Got: 0, Need: 0, AtMost: true}, true, math.Inf(1)},
		{"missing is never met", target{Got: 5, Need: 1, Missing: "3 requests failed"}, false, 0},
		{"ratio at most, met", target{Got: 0.35, Need: 0.7, AtMost: true}, true, 2},
		{"ratio at most, missed", target{Got: 1.4, Need: 0.7, AtMost: true}, false, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.met(); got != tt.wantMet {
				t.Errorf("met: got %v, want %v", got, tt.wantMet)
			}
			if got := tt.t.score(); got != tt.wantScore {
				t.Errorf("score: got %v, want %v", got, tt.wantScore)
			}
		})
	}
}

func TestSplice(t *testing.T) {
	doc := "# Benchmarks\n\nintro\n\n" + readmeStart + "\nold table\n" + readmeEnd + "\n\nafter\n"
	md := "# fcgi-wrap benchmark results\n\nRun on a day.\n\n## Targets\n\n| a |\n"
	got, err := splice(doc, md)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := "# Benchmarks\n\nintro\n\n" + readmeStart + "\n\nRun on a day.\n\n### Targets\n\n| a |\n\n" + readmeEnd + "\n\nafter\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := splice("no markers", md); !errors.Is(err, errNoMarkers) {
		t.Errorf("got %v, want %v", err, errNoMarkers)
	}
}

// TestChartSVG checks that every bar ends right of the dashed "met" line
// exactly when its target is met, for targets with a minimum and with a
// maximum alike, and is coloured to match.
func TestChartSVG(t *testing.T) {
	targets := []target{
		{Name: "tiny <CGI> & co", Got: 2.1, Need: 1.8, Format: "%.2fx"},
		{Name: "memory", Got: 40, Need: 30, AtMost: true, Format: "%.1f MiB"},
		{Name: "broken", Missing: "3 requests failed", Need: 1, Format: "%.0f"},
		{Name: "cpu ratio", Got: 0.45, Need: 0.7, AtMost: true, Format: "%.2fx"},
		{Name: "cpu ratio missed", Got: 0.9, Need: 0.7, AtMost: true, Format: "%.2fx"},
	}
	svg := chartSVG("title", targets)
	d := xml.NewDecoder(strings.NewReader(svg))
	var bars []map[string]string
	line := -1.0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attrs := map[string]string{}
		for _, a := range se.Attr {
			attrs[a.Name.Local] = a.Value
		}
		switch {
		case se.Name.Local == "rect" && attrs["width"] != "100%":
			bars = append(bars, attrs)
		case se.Name.Local == "line" && attrs["stroke-dasharray"] != "":
			line, _ = strconv.ParseFloat(attrs["x1"], 64)
		}
	}
	if len(bars) != len(targets) || line < 0 {
		t.Fatalf("got %d bars and line at %v, want %d bars and a line", len(bars), line, len(targets))
	}
	for i, tg := range targets {
		x, _ := strconv.ParseFloat(bars[i]["x"], 64)
		w, _ := strconv.ParseFloat(bars[i]["width"], 64)
		wantFill := map[bool]string{true: "#2e8b57", false: "#c0392b"}[tg.met()]
		if right := x+w > line; right != tg.met() || bars[i]["fill"] != wantFill {
			t.Errorf("%s: bar ends at %.1f, line at %.1f, fill %s; want right of it %v, fill %s",
				tg.Name, x+w, line, bars[i]["fill"], tg.met(), wantFill)
		}
	}
}

// TestWrkVersionWithoutWrk: the machine probe indexed the second word of
// `wrk --version` unchecked, so a machine without wrk panicked the whole
// run before any scenario (even -only tiny, which needs no wrk).
func TestWrkVersionWithoutWrk(t *testing.T) {
	for out, want := range map[string]string{
		"":                              "",
		"sh: wrk: not found":            "",
		"wrk 4.1.0 [epoll] Copyright\n": "4.1.0",
	} {
		if got := wrkVersion(out); got != want {
			t.Errorf("wrkVersion(%q) = %q, want %q", out, got, want)
		}
	}
}

// TestRatioTargetNotMeasured: a CPU ratio that no round measured is 0,
// and 0 is below every maximum, so it would have counted as met.
func TestRatioTargetNotMeasured(t *testing.T) {
	tests := []struct {
		name        string
		got         float64
		atMost      bool
		errors      int
		wantMet     bool
		wantMissing string
	}{
		{"at most, measured", 0.5, true, 0, true, ""},
		{"at most, not measured", 0, true, 0, false, "not measured"},
		{"at least, not measured", 0, false, 0, false, "not measured"},
		{"failed requests", 2, false, 3, false, "3 requests failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ratioTarget(16, "x", tt.got, tt.atMost, 0.7, summary{errors: tt.errors})
			if got.met() != tt.wantMet || got.Missing != tt.wantMissing {
				t.Errorf("got met %v, missing %q; want %v, %q", got.met(), got.Missing, tt.wantMet, tt.wantMissing)
			}
		})
	}
	if got, want := ratioTarget(16, "x", 0.5, true, 0.7, summary{}).needText(), "≤ 0.70x"; got != want {
		t.Errorf("needText: got %q, want %q", got, want)
	}
}

// TestMarkdownNamesTheMachine checks that the machine stands beside the
// targets and every section, and that the CPU ratio gets its column.
func TestMarkdownNamesTheMachine(t *testing.T) {
	m := machine{CPU: "AMD EPYC 7B13 64-Core Processor", CPUs: 2, Kernel: "6.18.44-fc-v769"}
	rows := []row{
		{Section: "A", Scenario: "tiny", FW: "1", Other: "2", VsOther: 1.5, CPUVsOther: 0.42},
		{Section: "B", Scenario: "nginx", FW: "1", Other: "2"},
	}
	targets := []target{{Name: "cpu", Issue: 16, Got: 0.42, Need: 0.7, AtMost: true, Format: "%.2fx"}}
	md := markdown(m, &config{runs: 5}, rows, targets, nil)
	for _, want := range []string{
		"## Targets on AMD EPYC 7B13, 2 CPUs, Linux 6.18.44: 1 of 1 met\n",
		"| cpu | #16 | 0.42x | ≤ 0.70x | yes |\n",
		"## A, on AMD EPYC 7B13, 2 CPUs, Linux 6.18.44\n",
		"## B, on AMD EPYC 7B13, 2 CPUs, Linux 6.18.44\n",
		"| tiny | 1 | 2 | – | 1.50x | – | 0.42x |\n",
		"| nginx | 1 | 2 | – | – | – | – |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q; got\n%s", want, md)
		}
	}
}

func TestCompactCPU(t *testing.T) {
	for model, want := range map[string]string{
		"AMD EPYC":                        "AMD EPYC",
		"AMD EPYC 7B13 64-Core Processor": "AMD EPYC 7B13",
		"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz": "Intel Xeon Platinum 8375C",
		"Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz":      "Intel Core i7-8550U",
		"": "unknown CPU",
	} {
		if got := compactCPU(model); got != want {
			t.Errorf("compactCPU(%q) = %q, want %q", model, got, want)
		}
	}
	m := machine{CPUs: 16}
	if got, want := m.label(), "unknown CPU, 16 CPUs, Linux unknown"; got != want {
		t.Errorf("label without a probe: got %q, want %q", got, want)
	}
}

// TestMarkdownLeanColumns: a section with a lean wrapper figure gets the
// three lean columns and the sentence saying what they are, with a dash
// in rows without one; a section without any keeps its seven columns.
func TestMarkdownLeanColumns(t *testing.T) {
	rows := []row{
		{Section: "A", Scenario: "tiny", FW: "1", Other: "2", Limit: "bare", VsOther: 1.5, VsLimit: 0.5, CPUVsOther: 0.42,
			Lean: "3 req/s", VsLean: 0.8, CPUVsLean: 1.6},
		{Section: "A", Scenario: "keep-conn", FW: "1", Other: "2", VsOther: 1.1},
		{Section: "B", Scenario: "nginx", FW: "1", Other: "2"},
	}
	md := markdown(machine{CPUs: 2}, &config{runs: 5}, rows, nil, nil)
	for _, tt := range []struct{ name, want string }{
		{"lean head", "| scenario | fcgi-wrap | fcgiwrap | reference | fcgi-wrap ÷ fcgiwrap | fcgi-wrap ÷ reference | daemon CPU, fcgi-wrap ÷ fcgiwrap | lean Go wrapper | fcgi-wrap ÷ lean | daemon CPU, fcgi-wrap ÷ lean |\n|---|---|---|---|---|---|---|---|---|---|\n"},
		{"lean row", "| tiny | 1 | 2 | bare | 1.50x | 0.50x | 0.42x | 3 req/s | 0.80x | 1.60x |\n"},
		{"row without lean", "| keep-conn | 1 | 2 | – | 1.10x | – | – | – | – | – |\n"},
		{"section without lean", "## B, on unknown CPU, 2 CPUs, Linux unknown\n\n| scenario | fcgi-wrap | fcgiwrap | reference | fcgi-wrap ÷ fcgiwrap | fcgi-wrap ÷ reference | daemon CPU, fcgi-wrap ÷ fcgiwrap |\n|---|---|---|---|---|---|---|\n| nginx | 1 | 2 | – | – | – | – |\n"},
		{"what the lean columns are", leanText},
	} {
		if !strings.Contains(md, tt.want) {
			t.Errorf("%s: markdown lacks %q; got\n%s", tt.name, tt.want, md)
		}
	}
	if n := strings.Count(md, leanText); n != 1 {
		t.Errorf("got the lean sentence %d times, want once", n)
	}
}
