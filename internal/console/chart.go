package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"unicode/utf8"
)

// Charts are drawn as SVG on the server from the numbers: no chart library,
// no script, and a test can read them. Each chart is an image with a label
// naming what it shows, and every bar carries its number as text, so the
// figures are there for a screen reader and without colour.

// bar is one labelled number.
type bar struct {
	Label string
	Value float64
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// barChart draws items as horizontal bars, each with its label and number.
func barChart(id, label string, items []bar) template.HTML {
	const width, labelW, rowH, valueW = 640, 220, 26, 80
	h := rowH*len(items) + 8
	var top float64
	for _, b := range items {
		top = max(top, b.Value)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" id="%s" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet">`,
		esc(id), esc(label), width, h)
	fmt.Fprintf(&sb, `<title>%s</title>`, esc(label))
	for i, b := range items {
		y := 4 + i*rowH
		w := 0.0
		if top > 0 {
			w = (width - labelW - valueW) * b.Value / top
		}
		fmt.Fprintf(&sb, `<g data-label="%s" data-value="%s"><text x="0" y="%d" class="lbl">%s</text>`+
			`<rect x="%d" y="%d" width="%.1f" height="%d" class="bar"></rect>`+
			`<text x="%.1f" y="%d" class="val">%s</text></g>`,
			esc(b.Label), num(b.Value), y+17, esc(b.Label), labelW, y+3, w, rowH-8, float64(labelW)+w+6, y+17, num(b.Value))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // every text in it went through esc
}

// series is one line of numbers of a column chart.
type series struct {
	Name   string
	Values []float64
}

// columnChart draws groups of columns, one group per x label and one column
// per series, with a legend.
func columnChart(id, label string, xs []string, ss []series) template.HTML {
	const width, axisH, rowH = 640, 24, 20
	// The legend has as many entries in a row as the longest name leaves
	// room for (about 7 units a character at this size), at most three.
	longest := 0
	for _, s := range ss {
		longest = max(longest, utf8.RuneCountInString(s.Name))
	}
	perRow := min(3, max(1, width/(24+7*longest)))
	legendH := rowH * max(1, (len(ss)+perRow-1)/perRow)
	height := 198 + legendH
	var top float64
	for _, s := range ss {
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	plotH := float64(height - axisH - legendH - 16)
	groupW := float64(width) / float64(max(len(xs), 1))
	colW := (groupW - 10) / float64(max(len(ss), 1))
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" id="%s" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet">`,
		esc(id), esc(label), width, height)
	fmt.Fprintf(&sb, `<title>%s</title>`, esc(label))
	for si, s := range ss {
		x, y := (si%perRow)*(width/perRow), 4+(si/perRow)*rowH
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="12" height="12" class="s%d"></rect><text x="%d" y="%d" class="lbl">%s</text>`,
			x, y, si, x+18, y+11, esc(s.Name))
	}
	for xi, x := range xs {
		gx := float64(xi) * groupW
		for si, s := range ss {
			v := 0.0
			if xi < len(s.Values) {
				v = s.Values[xi]
			}
			hgt := 0.0
			if top > 0 {
				hgt = plotH * v / top
			}
			y := float64(legendH) + 12 + plotH - hgt
			fmt.Fprintf(&sb, `<g data-x="%s" data-series="%s" data-value="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="s%d"><title>%s %s: %s</title></rect>`+
				`<text x="%.1f" y="%.1f" class="val small">%s</text></g>`,
				esc(x), esc(s.Name), num(v), gx+5+float64(si)*colW, y, colW-2, hgt, si, esc(x), esc(s.Name), num(v),
				gx+5+float64(si)*colW, y-3, num(v))
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="lbl small">%s</text>`, gx+5, height-6, esc(x))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}
