package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchReport is what the tests read of lfs bench --json.
type benchReport struct {
	Schema      string `json:"schema"`
	Filesystems []struct {
		Name, Skipped, Error string
	} `json:"filesystems"`
	Results []struct {
		Workload, FS, Cache, Skipped, Error string
		Median                              *float64  `json:"median_s"`
		Runs                                []float64 `json:"runs_s"`
	} `json:"results"`
}

// mountsBelow lists what /proc/mounts has mounted at or under dir.
func mountsBelow(dir string) []string {
	data, _ := os.ReadFile("/proc/mounts")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			out = append(out, f[1])
		}
	}
	return out
}

// cleanMounts fails the test if anything is mounted under dir, and
// unmounts it.
func cleanMounts(t *testing.T, dir string) {
	t.Helper()
	if m := mountsBelow(dir); len(m) > 0 {
		t.Errorf("lfs bench left mounts: %v", m)
		for i := len(m) - 1; i >= 0; i-- {
			exec.Command("umount", "-l", m[i]).Run()
		}
	}
}

// TestBench runs lfs bench --size small as CI does, then, on the same
// dataset, interrupts a run; and refuses a --dir on a FUSE mount.
func TestBench(t *testing.T) {
	if skipAll != "" {
		t.Skip(skipAll)
	}
	needFUSE(t)
	needTools(t, "fuse-overlayfs", "tar", "find", "xargs", "grep")
	dir := filepath.Join(t.TempDir(), "bench")
	t.Cleanup(func() { cleanMounts(t, dir) })
	svg := filepath.Join(t.TempDir(), "r.svg")
	js := filepath.Join(t.TempDir(), "r.json")

	t.Run("small", func(t *testing.T) {
		start := time.Now()
		r := runWith(t, opts{}, "bench", "--size", "small", "--runs", "1", "--json", "--plot", svg, "--dir", dir)
		t.Logf("lfs bench --size small --runs 1: %v", time.Since(start).Round(time.Second))
		cleanMounts(t, dir)
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr: %s\nstdout: %s", r.code, clip(r.stderr), clip(r.stdout))
		}
		if err := os.WriteFile(js, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		var rep benchReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("--json: %v\n%s", err, clip(r.stdout))
		}
		if rep.Schema != "lfs-bench/v1" {
			t.Errorf("schema %q", rep.Schema)
		}
		skipped := map[string]bool{}
		for _, f := range rep.Filesystems {
			switch {
			case f.Error != "":
				t.Errorf("%s failed: %s", f.Name, f.Error)
			case f.Skipped != "" && f.Name != "unionfs-fuse":
				t.Errorf("%s skipped as root with its tools installed: %s", f.Name, f.Skipped)
			}
			skipped[f.Name] = f.Skipped != ""
		}
		bars := map[string]int{}
		for _, res := range rep.Results {
			if skipped[res.FS] {
				continue
			}
			if res.Error != "" {
				t.Errorf("%s on %s failed: %s", res.Workload, res.FS, res.Error)
			}
			notMount := res.Workload == "mount" && res.FS == "native"
			if res.Skipped != "" && !notMount {
				t.Errorf("%s on %s skipped: %s", res.Workload, res.FS, res.Skipped)
			}
			if res.Median != nil {
				bars[res.FS]++
			}
		}
		if bars["lfs"] != len(rep.Results)/len(rep.Filesystems) {
			t.Errorf("lfs has %d results of %d workloads", bars["lfs"], len(rep.Results)/len(rep.Filesystems))
		}
		// The chart: a bar per filesystem and workload measured, and a
		// swatch in the legend, in the filesystem's colour.
		colours := map[string]string{"lfs": "#1F4E9C", "lfs-dir": "#6BA3E8", "fuse-overlayfs": "#E67E22", "unionfs-fuse": "#9B4DCA", "native": "#2E9E4F"}
		fills := svgFillCounts(t, svg)
		for fs, c := range colours {
			if want := bars[fs]; want > 0 && fills[c] != want+1 {
				t.Errorf("the chart has %d %s paths for %s, want %d bars and a swatch", fills[c], c, fs, want)
			}
		}
		// The table, from the saved report.
		out := mustRun(t, "bench", "--from", js)
		for _, want := range []string{"WORKLOAD", "stat-all", "lfs-dir", "×OVERLAY", "machine:", "dataset:"} {
			if !strings.Contains(out, want) {
				t.Errorf("lfs bench --from lacks %q:\n%s", want, clip(out))
			}
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
			t.Skip("needs the dataset of the small run")
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, lfsBin, "bench", "--size", "small", "--runs", "100", "--workload", "read-all",
			"--fs", "lfs,lfs-dir,overlay,fuse-overlayfs", "--dir", dir)
		cmd.Env = baseEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		for len(mountsBelow(filepath.Join(dir, "run"))) < 4 {
			select {
			case err := <-done:
				t.Fatalf("lfs bench ended before mounting: %v\n%s", err, stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		time.Sleep(time.Second)
		cmd.Process.Signal(syscall.SIGINT)
		err := <-done
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("after SIGINT: %v, want exit status 130\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "Error: bench: interrupted by interrupt; everything is unmounted") {
			t.Errorf("stderr: %s", stderr.String())
		}
		cleanMounts(t, dir)
		// The servers of the FUSE mounts end once unmounted.
		for i := 0; ; i++ {
			left := pidsNaming(filepath.Join(dir, "run"))
			if len(left) == 0 {
				break
			}
			if i == 50 {
				t.Errorf("processes still name the run's directory: %v", left)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("refuses a FUSE dir", func(t *testing.T) {
		base := t.TempDir()
		low, up, mp := filepath.Join(base, "low"), filepath.Join(base, "up"), filepath.Join(base, "mnt")
		for _, d := range []string{low, up, mp} {
			os.Mkdir(d, 0o755)
		}
		unmountLater(t, mp)
		mustRun(t, "mount", "-d", "--lower", low, "--upper", up, mp)
		r := runWith(t, opts{}, "bench", "--size", "small", "--dir", filepath.Join(mp, "b"))
		if r.code != 125 || !strings.Contains(r.stderr, "is on a fuse filesystem") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("--dir on a FUSE mount: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		d := t.TempDir()
		for _, c := range []struct{ args []string }{
			{[]string{"--fs", "zfs"}}, {[]string{"--workload", "nope"}}, {[]string{"--size", "huge"}},
			{[]string{"--runs", "0"}}, {[]string{"--plot", "chart.gif"}},
		} {
			r := runWith(t, opts{}, append([]string{"bench", "--dir", d}, c.args...)...)
			if r.code != 125 || !strings.HasPrefix(r.stderr, "Error: bench: ") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("lfs bench %v: exit %d, stderr %q", c.args, r.code, r.stderr)
			}
		}
	})
}

// svgFillCounts counts an SVG's filled paths by colour; it fails the test
// if the SVG does not parse.
func svgFillCounts(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fills := map[string]int{}
	d := xml.NewDecoder(f)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return fills
		}
		if err != nil {
			t.Fatalf("%s does not parse: %v", file, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			for _, a := range se.Attr {
				for _, kv := range strings.Split(a.Value, ";") {
					if c, ok := strings.CutPrefix(kv, "fill:"); ok && a.Name.Local == "style" {
						fills[c]++
					}
				}
			}
		}
	}
}

// pidsNaming lists the processes whose command line mentions s.
func pidsNaming(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
