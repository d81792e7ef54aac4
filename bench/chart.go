package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartWidth  = 980
	chartLabelW = 470 // target names
	chartBarW   = 330 // the bars' axis
	chartRowH   = 28
	chartTop    = 58
	chartBottom = 40
)

// chartSVG draws every target as a bar of its score (measured relative to
// required, 1 = just met), so that rates, memory and latency share one
// axis. The axis is logarithmic: a target missed by half and one beaten
// twice over lie equally far from the line.
func chartSVG(title string, targets []target) string {
	const lo, hi = 0.25, 8.0
	x := func(score float64) float64 {
		score = math.Min(math.Max(score, lo), hi)
		return chartLabelW + chartBarW*math.Log(score/lo)/math.Log(hi/lo)
	}
	height := chartTop + chartRowH*len(targets) + chartBottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="12" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="12" y="44" fill="#555">measured ÷ required (for "at most" targets: required ÷ measured); right of the line = met; log scale</text>`+"\n")
	axisY := chartTop + chartRowH*len(targets)
	for _, tick := range []float64{0.25, 0.5, 1, 2, 4, 8} {
		tx := x(tick)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", tx, chartTop-6, tx, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%gx</text>`+"\n", tx, axisY+16, tick)
	}
	for i, t := range targets {
		y := chartTop + chartRowH*i
		color := "#2e8b57"
		if !t.met() {
			color = "#c0392b"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", chartLabelW-8, y+17, html.EscapeString(t.Name))
		w := x(t.score()) - chartLabelW
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", chartLabelW, y+5, w, chartRowH-10, color)
		label := t.gotText() + " (need " + t.needText() + ")"
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#333">%s</text>`+"\n", chartLabelW+w+6, y+17, html.EscapeString(label))
	}
	one := x(1)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="2" stroke-dasharray="4 3"/>`+"\n", one, chartTop-8, one, axisY+2)
	b.WriteString("</svg>\n")
	return b.String()
}
