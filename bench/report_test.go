package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSummarizeRuns(t *testing.T) {
	for _, c := range []struct {
		runs          []float64
		med, min, max float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4}, // even: the mean of the middle two
		{[]float64{2, 2, 9, 2, 1}, 2, 1, 9},
	} {
		s := summarizeRuns(c.runs)
		if s.Median != c.med || s.Min != c.min || s.Max != c.max {
			t.Errorf("%v: %+v, want median %g, min %g, max %g", c.runs, s, c.med, c.min, c.max)
		}
	}
	if s := summarizeRuns(nil); !math.IsNaN(s.Median) {
		t.Errorf("no runs: median %g, want NaN", s.Median)
	}
	in := []float64{3, 1, 2}
	summarizeRuns(in)
	if !reflect.DeepEqual(in, []float64{3, 1, 2}) {
		t.Errorf("summarizeRuns reordered its input: %v", in)
	}
	two, four, zero := 2.0, 4.0, 0.0
	if r := ratio(&four, &two); r == nil || *r != 2 {
		t.Errorf("ratio(4, 2) = %v", r)
	}
	if ratio(&four, nil) != nil || ratio(nil, &two) != nil || ratio(&four, &zero) != nil {
		t.Error("a ratio with a missing or zero side should be nil")
	}
}

func f64(x float64) *float64 { return &x }

// sampleReport is a report as Run makes it: two workloads on five
// filesystems, one skipped altogether, one cell skipped, one failed.
func sampleReport() *Report {
	rep := &Report{Schema: Schema, LfsVersion: "test", Started: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC), Runs: 3,
		Machine: Machine{Kernel: "6.1.0", Arch: "x86_64", OS: "Debian", CPU: "CPU", CPUs: 2, MemoryBytes: 8 * giB, Dir: "/d", DirFS: "ext4", Root: true},
		Dataset: DatasetInfo{Generator: GeneratorVersion, Spec: tinySpec, Layers: make([]LayerInfo, 4)},
		Filesystems: []FSInfo{{Name: "lfs", Version: "lfs test"}, {Name: "overlay"}, {Name: "fuse-overlayfs"},
			{Name: "unionfs-fuse", Skipped: "unionfs-fuse is not installed"}, {Name: "native"}},
		Workloads: []WorkloadInfo{{Name: "stat-all", Description: "lstat"}, {Name: "mount", Description: "mount"}}}
	add := func(w, fs string, runs ...float64) *Result {
		rep.Results = append(rep.Results, Result{Workload: w, FS: fs, Cache: "warm", Runs: runs})
		return &rep.Results[len(rep.Results)-1]
	}
	add("stat-all", "lfs", 0.030, 0.020, 0.040)
	add("stat-all", "overlay", 0.010, 0.011, 0.009)
	add("stat-all", "fuse-overlayfs").Error = "stat tree/x: input/output error"
	add("stat-all", "unionfs-fuse").Skipped = "unionfs-fuse is not installed"
	add("stat-all", "native", 0.005, 0.005, 0.005)
	add("mount", "lfs", 0.050, 0.060, 0.055)
	add("mount", "overlay", 0.0005, 0.0005, 0.0005)
	add("mount", "fuse-overlayfs", 0.006, 0.007, 0.005)
	add("mount", "unionfs-fuse").Skipped = "unionfs-fuse is not installed"
	add("mount", "native").Skipped = "nothing to mount"
	rep.finish(90 * time.Second)
	return rep
}

func TestReportFinish(t *testing.T) {
	rep := sampleReport()
	r := rep.Results[0] // stat-all on lfs
	if *r.Median != 0.030 || *r.Min != 0.020 || *r.Max != 0.040 {
		t.Errorf("lfs stat-all: median %g [%g, %g]", *r.Median, *r.Min, *r.Max)
	}
	if math.Abs(*r.RatioOverlay-3) > 1e-9 || math.Abs(*r.RatioNative-6) > 1e-9 {
		t.Errorf("lfs stat-all: ratios %g and %g, want 3 and 6", *r.RatioOverlay, *r.RatioNative)
	}
	if o := rep.Results[1]; *o.RatioOverlay != 1 {
		t.Errorf("overlay over itself: %g", *o.RatioOverlay)
	}
	if m := rep.Results[5]; m.RatioNative != nil {
		t.Errorf("mount has no native median, yet a ratio %g", *m.RatioNative)
	}
	if f := rep.Results[2]; f.Median != nil || f.RatioOverlay != nil {
		t.Error("a failed cell has a median")
	}
	if !rep.Failed() {
		t.Error("a report with a failed cell is not Failed")
	}
}

func TestReportTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"tiny dataset, 3 run(s)", "Linux 6.1.0 x86_64, Debian; 2 × CPU; 8.0 GiB RAM; as root", "/d on ext4",
		"WORKLOAD  FS", "stat-all  lfs             30.0 ms  20.0–40.0 ms  3.00      6.00",
		"          overlay         10.0 ms  9.0–11.0 ms   1.00      2.00",
		"          fuse-overlayfs  -        -             -         -        failed [2]",
		"mount     lfs             55.0 ms  50.0–60.0 ms  110.0     -",
		"          overlay         500 µs   500–500 µs    1.00      -",
		"          native          -        -             -         -        skipped [3]",
		"[1] unionfs-fuse is not installed", "[2] stat tree/x: input/output error", "[3] nothing to mount",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "unionfs-fuse") && strings.Contains(l, "skipped [") && !strings.HasPrefix(l, "unionfs-fuse") {
			t.Errorf("a skipped filesystem has result rows: %q", l)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"schema": "lfs-bench/v1"`, `"median_s": 0.03`, `"ratio_overlay": 3`, `"runs_s": [`, `"skipped": "nothing to mount"`, `"kernel": "6.1.0"`} {
		if !strings.Contains(b.String(), field) {
			t.Errorf("the JSON lacks %s", field)
		}
	}
	back, err := ReadReport(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("a report read back differs:\n%+v\n%+v", back, rep)
	}
	other := strings.Replace(b.String(), Schema, "lfs-bench/v9", 1)
	if _, err := ReadReport(strings.NewReader(other)); !errors.Is(err, ErrSchema) {
		t.Errorf("a v9 report: %v, want ErrSchema", err)
	}
}

// svgFills counts the filled paths of an SVG by fill colour.
func svgFills(t *testing.T, r io.Reader) map[string]int {
	t.Helper()
	fills := map[string]int{}
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG does not parse: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			for _, a := range se.Attr {
				if a.Name.Local == "style" {
					for _, kv := range strings.Split(a.Value, ";") {
						if c, ok := strings.CutPrefix(kv, "fill:"); ok {
							fills[c]++
						}
					}
				}
			}
		}
	}
	return fills
}

// TestPlot: one bar per filesystem and workload measured (and one legend
// swatch per filesystem), none for the baseline, none for what did not
// run.
func TestPlot(t *testing.T) {
	rep := sampleReport()
	dir := t.TempDir()
	svg := filepath.Join(dir, "r.svg")
	if err := rep.WritePlot(svg); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fills := svgFills(t, f)
	hex := func(fs string) string {
		c := fsColors[fs]
		return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B)
	}
	for fs, bars := range map[string]int{"lfs": 2, "fuse-overlayfs": 1, "native": 1, "overlay": 0, "unionfs-fuse": 0} {
		want := bars
		if bars > 0 {
			want++ // the legend's swatch
		}
		if got := fills[hex(fs)]; got != want {
			t.Errorf("%s: %d filled paths, want %d bars and a swatch", fs, got, bars)
		}
	}

	pngFile := filepath.Join(dir, "r.png")
	if err := rep.WritePlot(pngFile); err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil || img.Bounds().Dx() < 500 {
		t.Errorf("the PNG: %v, %v", err, img.Bounds())
	}
	if err := rep.WritePlot(filepath.Join(dir, "r.jpg")); !errors.Is(err, ErrUsage) {
		t.Errorf("a .jpg plot: %v, want ErrUsage", err)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q", n, got)
		}
	}
}
