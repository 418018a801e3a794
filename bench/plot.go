package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// fsColors are the filesystems' colours in a chart: lfs's two in blues,
// the other unions in warm colours, native in green.
var fsColors = map[string]color.RGBA{
	"lfs":            {0x1f, 0x4e, 0x9c, 0xff},
	"lfs-dir":        {0x6b, 0xa3, 0xe8, 0xff},
	"overlay":        {0x55, 0x55, 0x55, 0xff},
	"fuse-overlayfs": {0xe6, 0x7e, 0x22, 0xff},
	"unionfs-fuse":   {0x9b, 0x4d, 0xca, 0xff},
	"native":         {0x2e, 0x9e, 0x4f, 0xff},
}

// CheckPlotFile says whether WritePlot can write file: it must end in .svg
// or .png.
func CheckPlotFile(file string) error {
	if ext := strings.ToLower(filepath.Ext(file)); ext != ".svg" && ext != ".png" {
		return fmt.Errorf("bench: --plot %s: %w: the file must end in .svg or .png", file, ErrUsage)
	}
	return nil
}

// baseline is the filesystem the chart's ratios are over: kernel overlayfs
// when it ran, else native.
func (rep *Report) baseline() string {
	for _, res := range rep.Results {
		if res.FS == "overlay" && res.Median != nil {
			return "overlay"
		}
	}
	return "native"
}

// WritePlot renders a grouped bar chart of the ratios to file, as SVG or
// PNG by its extension: one group per workload (and cache), one bar per
// other filesystem, the height its median over the baseline's on a log
// scale, so that 2× slower and 2× faster are bars of one length, up and
// down from the 1× line.
func (rep *Report) WritePlot(file string) error {
	if err := CheckPlotFile(file); err != nil {
		return err
	}
	base := rep.baseline()
	type group struct{ workload, cache, label string }
	var groups []group
	seen := map[string]bool{}
	baseMed := map[string]bool{}
	for _, res := range rep.Results {
		k := res.Workload + "/" + res.Cache
		if res.FS == base && res.Median != nil {
			baseMed[k] = true
		}
	}
	for _, res := range rep.Results {
		k := res.Workload + "/" + res.Cache
		if seen[k] || !baseMed[k] {
			continue
		}
		seen[k] = true
		label := res.Workload
		if rep.Cold {
			label += " (" + res.Cache + ")"
		}
		groups = append(groups, group{res.Workload, res.Cache, label})
	}
	var others []string
	for _, f := range rep.Filesystems {
		if f.Name != base && f.Skipped == "" {
			others = append(others, f.Name)
		}
	}

	p := plot.New()
	what := map[string]string{"overlay": "kernel overlayfs", "native": "native (no union)"}[base]
	p.Title.Text = fmt.Sprintf("lfs bench, %s dataset: time of each workload relative to %s", rep.Dataset.Spec.Name, what)
	p.Y.Label.Text = "× " + base + " (log scale; above 1× is slower)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.Padding = vg.Points(4)
	labels := make([]string, len(groups))
	for i, g := range groups {
		labels[i] = g.label
	}
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = math.Pi / 7
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	grid := plotter.NewGrid()
	grid.Vertical.Width = 0
	p.Add(grid)

	barW := vg.Points(9)
	lo, hi := 0.0, 0.0
	// Bars below 1/16× (native's copy-up, which copies nothing) are cut
	// there and labelled, so that they do not flatten the rest.
	const floor = -4
	for i, name := range others {
		off := barW * vg.Length(float64(i)-float64(len(others)-1)/2)
		var first *plotter.BarChart
		for g, gr := range groups {
			var r *float64
			for _, res := range rep.Results {
				if res.Workload == gr.workload && res.Cache == gr.cache && res.FS == name && res.Median != nil {
					r = res.RatioOverlay
					if base == "native" {
						r = res.RatioNative
					}
				}
			}
			if r == nil || *r <= 0 {
				continue
			}
			v := math.Log2(*r)
			if v < floor {
				p.Add(cutLabel{x: float64(g), off: off, y: floor, text: fmtRatio(r) + "×"})
				v = floor
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			bar, err := plotter.NewBarChart(plotter.Values{v}, barW)
			if err != nil {
				return fmt.Errorf("bench: plot: %w", err)
			}
			bar.XMin, bar.Offset = float64(g), off
			bar.Color, bar.LineStyle.Width = fsColors[name], 0
			p.Add(bar)
			if first == nil {
				first = bar
			}
		}
		if first != nil {
			p.Legend.Add(name, first)
		}
	}
	// The 1× line, and room for the legend above the tallest bar.
	one := plotter.NewFunction(func(float64) float64 { return 0 })
	one.Color, one.Width = color.Black, vg.Points(0.8)
	p.Add(one)
	p.Y.Min = math.Floor(lo) - 0.2
	if lo <= floor {
		p.Y.Min = floor - 1 // room for the labels of cut bars
	}
	// Above the tallest bar, room for the legend: a third of the height,
	// without ticks.
	p.Y.Max = math.Ceil(hi) + 0.5 + 0.5*(math.Ceil(hi)-p.Y.Min)
	p.Y.Tick.Marker = ratioTicks{top: math.Ceil(hi)}
	p.X.Min, p.X.Max = -0.6, float64(len(groups))-0.4

	width := vg.Length(math.Max(8, 1.5+float64(len(groups)*len(others))*0.17)) * vg.Inch
	if err := p.Save(width, 5*vg.Inch, file); err != nil {
		return fmt.Errorf("bench: plot %s: %w", file, err)
	}
	return nil
}

// cutLabel writes a cut bar's real ratio below it.
type cutLabel struct {
	x, y float64
	off  vg.Length
	text string
}

func (l cutLabel) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := p.X.Tick.Label
	sty.Rotation, sty.XAlign, sty.YAlign = math.Pi/2, draw.XRight, draw.YCenter
	sty.Font.Size = vg.Points(7)
	c.FillText(sty, vg.Point{X: trX(l.x) + l.off, Y: trY(l.y) - vg.Points(2)}, l.text)
}

// ratioTicks marks powers of two up to 2^top, written as ratios: 1/4×,
// 1×, 4×.
type ratioTicks struct{ top float64 }

func (t ratioTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for k := math.Ceil(min); k <= math.Min(max, t.top); k++ {
		label := fmt.Sprintf("%g×", math.Exp2(k))
		if k < 0 {
			label = fmt.Sprintf("1/%g×", math.Exp2(-k))
		}
		ts = append(ts, plot.Tick{Value: k, Label: label})
	}
	return ts
}
