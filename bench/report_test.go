package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
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

func TestChartSVG(t *testing.T) {
	targets := []target{
		{Name: "tiny <CGI> & co", Got: 2.1, Need: 1.8, Format: "%.2fx"},
		{Name: "memory", Got: 40, Need: 30, AtMost: true, Format: "%.1f MiB"},
		{Name: "broken", Missing: "3 requests failed", Need: 1, Format: "%.0f"},
	}
	svg := chartSVG("title", targets)
	d := xml.NewDecoder(strings.NewReader(svg))
	rects, fills := 0, map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
			for _, a := range se.Attr {
				if a.Name.Local == "fill" {
					fills[a.Value]++
				}
			}
		}
	}
	// One background plus one bar per target.
	if rects != 1+len(targets) {
		t.Errorf("got %d rects, want %d", rects, 1+len(targets))
	}
	if fills["#2e8b57"] != 1 || fills["#c0392b"] != 2 {
		t.Errorf("got fills %v, want one green (met) and two red", fills)
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
