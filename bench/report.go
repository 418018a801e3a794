package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Schema names the report's JSON format. A change that could break a
// reader (a field renamed, removed or given another meaning) makes it
// lfs-bench/v2; fields may be added within v1. Workloads keep their names
// and their meaning within a schema: a workload that measures something
// else gets a new name.
const Schema = "lfs-bench/v1"

// Report is one run of lfs bench, as --json prints it.
type Report struct {
	Schema      string         `json:"schema"`
	LfsVersion  string         `json:"lfs_version"`
	Command     string         `json:"command,omitempty"`
	Started     time.Time      `json:"started"`
	DurationS   float64        `json:"duration_s"`
	Machine     Machine        `json:"machine"`
	Dataset     DatasetInfo    `json:"dataset"`
	Runs        int            `json:"runs"` // measured runs per cell, after one warm-up (warm cells)
	Cold        bool           `json:"cold"`
	Filesystems []FSInfo       `json:"filesystems"`
	Workloads   []WorkloadInfo `json:"workloads"`
	Results     []Result       `json:"results"`
	Notes       []string       `json:"notes,omitempty"`
}

// FSInfo describes one filesystem of a report.
type FSInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version,omitempty"`
	Skipped     string `json:"skipped,omitempty"` // why it did not run here
	Error       string `json:"error,omitempty"`   // why it failed: not mounted, or another tree than the layers'
}

// WorkloadInfo describes one workload of a report.
type WorkloadInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Result is one workload on one filesystem, warm or cold. Times are in
// seconds; ratios are this median over kernel overlayfs's and over
// native's, for the same workload and cache.
type Result struct {
	Workload     string    `json:"workload"`
	FS           string    `json:"fs"`
	Cache        string    `json:"cache"` // warm or cold
	Runs         []float64 `json:"runs_s,omitempty"`
	Median       *float64  `json:"median_s,omitempty"`
	Min          *float64  `json:"min_s,omitempty"`
	Max          *float64  `json:"max_s,omitempty"`
	RatioOverlay *float64  `json:"ratio_overlay,omitempty"`
	RatioNative  *float64  `json:"ratio_native,omitempty"`
	Tool         string    `json:"tool,omitempty"` // what measured it, when not lfs bench itself (fio)
	Skipped      string    `json:"skipped,omitempty"`
	Error        string    `json:"error,omitempty"`
}

func (r *runner) newReport(ws []*workload, started time.Time) *Report {
	rep := &Report{Schema: Schema, LfsVersion: r.opt.LfsVersion, Command: r.opt.Command, Started: started.UTC().Round(time.Second),
		Machine: r.machine, Dataset: r.ds.Info, Runs: r.opt.Runs, Cold: r.opt.Cold}
	for _, f := range r.fs {
		fi := FSInfo{Name: f.name, Description: f.doc, Skipped: r.skip[f.name], Error: r.failed[f.name]}
		if fi.Skipped == "" {
			fi.Version = f.version(r)
		}
		rep.Filesystems = append(rep.Filesystems, fi)
	}
	for _, w := range ws {
		rep.Workloads = append(rep.Workloads, WorkloadInfo{Name: w.name, Description: w.doc})
	}
	rep.Notes = r.notes
	return rep
}

// finish computes the medians and ratios from the runs.
func (rep *Report) finish(d time.Duration) {
	rep.DurationS = math.Round(d.Seconds())
	type key struct{ w, fs, cache string }
	med := map[key]*float64{}
	for i := range rep.Results {
		res := &rep.Results[i]
		if len(res.Runs) == 0 {
			continue
		}
		s := summarizeRuns(res.Runs)
		res.Median, res.Min, res.Max = &s.Median, &s.Min, &s.Max
		med[key{res.Workload, res.FS, res.Cache}] = res.Median
	}
	for i := range rep.Results {
		res := &rep.Results[i]
		res.RatioOverlay = ratio(res.Median, med[key{res.Workload, "overlay", res.Cache}])
		res.RatioNative = ratio(res.Median, med[key{res.Workload, "native", res.Cache}])
	}
}

// Failed says whether a workload failed on a filesystem (a skip is no
// failure).
func (rep *Report) Failed() bool {
	for _, res := range rep.Results {
		if res.Error != "" {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as --json prints it.
func (rep *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

// ErrSchema: a report in a format this lfs does not read.
var ErrSchema = errors.New("unknown report schema")

// ReadReport reads a report that WriteJSON wrote.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("bench: read report: %w", err)
	}
	if rep.Schema != Schema {
		return nil, fmt.Errorf("bench: report schema %q: %w (this lfs reads %s)", rep.Schema, ErrSchema, Schema)
	}
	return &rep, nil
}

// WriteTable writes the report for people: what was measured where, then
// one row per workload and filesystem with the median, the range and the
// ratios, then the footnotes.
func (rep *Report) WriteTable(w io.Writer) error {
	m, ds := rep.Machine, rep.Dataset
	st := ds.Stats
	who := "as root"
	if !m.Root {
		who = "rootless"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "lfs bench %s, %s: the %s dataset, %d run(s) of each workload after a warm-up; medians, [min–max], and the ratios of the medians over kernel overlayfs and over native\n",
		rep.LfsVersion, rep.Started.Format("2006-01-02 15:04 MST"), ds.Spec.Name, rep.Runs)
	fmt.Fprintf(&b, "machine:  Linux %s %s, %s; %d × %s; %s RAM; %s\n", m.Kernel, m.Arch, m.OS, m.CPUs, m.CPU, humanBytes(m.MemoryBytes), who)
	fmt.Fprintf(&b, "dir:      %s on %s (%s, %s)\n", m.Dir, m.DirFS, m.DirSource, m.DirOptions)
	fmt.Fprintf(&b, "dataset:  seed %d, generator %d: tree/ holds %s files (%s) in %s directories, %s symlinks, %s hard links, %s files with xattrs;\n",
		ds.Spec.Seed, ds.Generator, thousands(st.Files), humanBytes(st.Bytes), thousands(st.Dirs), thousands(st.Symlinks), thousands(st.Hardlinks), thousands(st.Xattrs))
	fmt.Fprintf(&b, "          %d layers (a base with busybox, then 3 generated) with %s replaced files, %s whiteouts, %d opaque directories; %s is %s; %s/ has %s entries\n",
		len(ds.Layers), thousands(st.Overrides), thousands(st.Whiteouts), st.Opaque, bigFilePath, humanBytes(ds.Spec.BigFile), bigDirPath, thousands(ds.Spec.BigDir))
	if rep.Command != "" {
		fmt.Fprintf(&b, "command:  %s\n", rep.Command)
	}
	b.WriteString("\n")
	io.WriteString(w, b.String())

	notes := &footnotes{}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FILESYSTEM\tVERSION\tWHAT")
	for _, f := range rep.Filesystems {
		v := f.Version
		switch {
		case f.Skipped != "":
			v = "skipped " + notes.ref(f.Skipped)
		case f.Error != "":
			v += " failed " + notes.ref(f.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, v, f.Description)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	cold := rep.Cold
	hdr := "WORKLOAD\tFS\tMEDIAN\tMIN–MAX\t×OVERLAY\t×NATIVE\tNOTE"
	if cold {
		hdr = "WORKLOAD\tCACHE\tFS\tMEDIAN\tMIN–MAX\t×OVERLAY\t×NATIVE\tNOTE"
	}
	fmt.Fprintln(tw, hdr)
	prev := ""
	for _, res := range rep.Results {
		if fsOut(rep, res.FS) {
			continue // the filesystem table says why
		}
		name := res.Workload
		if name+res.Cache == prev {
			name = ""
		}
		prev = res.Workload + res.Cache
		row := name + "\t"
		if cold {
			row += res.Cache + "\t"
		}
		row += res.FS + "\t"
		switch {
		case res.Median != nil:
			unit := unitFor(*res.Median)
			row += fmt.Sprintf("%s\t%s–%s\t%s\t%s\t", unit.format(*res.Median, true), unit.format(*res.Min, false),
				unit.format(*res.Max, true), fmtRatio(res.RatioOverlay), fmtRatio(res.RatioNative))
		case res.Error != "":
			row += "-\t-\t-\t-\tfailed " + notes.ref(res.Error)
		default:
			row += "-\t-\t-\t-\tskipped " + notes.ref(res.Skipped)
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, wl := range rep.Workloads {
		d := wl.Description
		for _, res := range rep.Results {
			if res.Workload == wl.Name && res.Tool != "" {
				d += " [" + res.Tool + "]"
				break
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", wl.Name, d)
	}
	tw.Flush()
	if len(notes.list) > 0 || len(rep.Notes) > 0 {
		fmt.Fprintln(w)
	}
	for i, n := range notes.list {
		fmt.Fprintf(w, "[%d] %s\n", i+1, n)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// fsOut says whether a filesystem was skipped or failed as a whole.
func fsOut(rep *Report, fs string) bool {
	for _, f := range rep.Filesystems {
		if f.Name == fs {
			return f.Skipped != "" || f.Error != ""
		}
	}
	return false
}

// footnotes numbers distinct messages in order of first use.
type footnotes struct{ list []string }

func (n *footnotes) ref(msg string) string {
	for i, m := range n.list {
		if m == msg {
			return fmt.Sprintf("[%d]", i+1)
		}
	}
	n.list = append(n.list, msg)
	return fmt.Sprintf("[%d]", len(n.list))
}

// unit is how a time and those beside it are written: the median picks
// it, so a row's three numbers share it.
type unit struct {
	name  string
	scale float64
	prec  int
}

func unitFor(s float64) unit {
	switch {
	case s >= 1:
		return unit{"s", 1, 2}
	case s >= 1e-3:
		return unit{"ms", 1e3, 1}
	}
	return unit{"µs", 1e6, 0}
}

func (u unit) format(s float64, withUnit bool) string {
	v := s * u.scale
	prec := u.prec
	if v >= 100 {
		prec = 0
	}
	out := fmt.Sprintf("%.*f", prec, v)
	if withUnit {
		out += " " + u.name
	}
	return out
}

func fmtRatio(r *float64) string {
	if r == nil {
		return "-"
	}
	switch {
	case *r >= 10:
		return fmt.Sprintf("%.1f", *r)
	case *r < 0.1:
		return fmt.Sprintf("%.2g", *r)
	}
	return fmt.Sprintf("%.2f", *r)
}

func humanBytes(n int64) string {
	switch {
	case n >= giB:
		return fmt.Sprintf("%.1f GiB", float64(n)/giB)
	case n >= miB:
		return fmt.Sprintf("%.1f MiB", float64(n)/miB)
	case n >= kiB:
		return fmt.Sprintf("%.1f KiB", float64(n)/kiB)
	}
	return fmt.Sprintf("%d B", n)
}

// thousands writes n with commas: 20,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
