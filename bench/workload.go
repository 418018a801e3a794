package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Workloads lists the workloads, in the order they run and show.
var Workloads = []string{"mount", "stat-all", "read-all", "seq-read", "rand-read", "append-big", "open-write",
	"create-delete", "list-big", "untar", "grep", "run", "bwrap"}

// How a workload gets its instance.
type mountMode int

const (
	// shared: every run uses the one long-lived mount of the filesystem
	// (remounted before each cold run).
	shared mountMode = iota
	// fresh: every run gets a new mount on an empty upper, made and
	// undone outside the timing; on native, undo puts the tree back.
	fresh
	// own: the workload mounts and unmounts inside its timing; it gets
	// an instance whose directories exist.
	own
)

type workload struct {
	name, doc string
	mode      mountMode
	writes    bool // sync the filesystem after each run, outside the timing
	// skip says why the workload cannot run on a filesystem, or "".
	skip func(r *runner, f *fsys) string
	run  func(ctx context.Context, r *runner, in *instance) (time.Duration, error)
	undo func(r *runner, in *instance) error // native's, for fresh workloads
	tool func(r *runner) string              // what measured it, when not lfs bench itself
}

func workloads() map[string]*workload {
	ws := []*workload{
		{name: "mount", mode: own, doc: "mount on an empty upper and stat the root (unmounting is not timed)",
			skip: func(_ *runner, f *fsys) string {
				if f.name == "native" {
					return "nothing to mount"
				}
				return ""
			},
			run: func(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
				t0 := time.Now()
				if err := r.mountIn(ctx, in); err != nil {
					return 0, err
				}
				_, err := os.Stat(in.root)
				d := time.Since(t0)
				if uerr := r.unmount(in); err == nil {
					err = uerr
				}
				return d, err
			}},
		{name: "stat-all", mode: shared, doc: "lstat every entry of tree/ (find -printf %s)",
			run: timed(func(ctx context.Context, r *runner) error {
				return walkTree(ctx, func(p string, d fs.DirEntry) error {
					_, err := os.Lstat(p)
					return err
				})
			})},
		{name: "read-all", mode: shared, doc: "read every file of tree/ (cat)",
			run: timed(func(ctx context.Context, r *runner) error {
				buf := make([]byte, 128*kiB)
				return walkTree(ctx, func(p string, d fs.DirEntry) error {
					if !d.Type().IsRegular() {
						return nil
					}
					return readFile(ctx, p, buf)
				})
			})},
		{name: "seq-read", mode: shared, doc: "read the big file from start to end, 1 MiB at a time",
			run: timed(func(ctx context.Context, r *runner) error {
				return readFile(ctx, bigFilePath, make([]byte, miB))
			})},
		{name: "rand-read", mode: shared, doc: "4 KiB reads at random offsets of the big file (fio psync when installed)",
			run: randRead, tool: func(r *runner) string { return r.fio }},
		{name: "append-big", mode: fresh, writes: true, doc: "append one byte to the big lower file (copy-up of all of it)",
			run: timed(func(ctx context.Context, r *runner) error {
				f, err := os.OpenFile(bigFilePath, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				_, err = f.Write([]byte{'\n'})
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}),
			undo: func(r *runner, in *instance) error {
				return os.Truncate(filepath.Join(in.root, bigFilePath), r.ds.model.spec.BigFile)
			}},
		{name: "open-write", mode: fresh, writes: true, doc: "open lower files for writing and close them (copy-up of each)",
			run: timed(func(ctx context.Context, r *runner) error {
				for _, p := range r.ds.model.open {
					if err := ctx.Err(); err != nil {
						return err
					}
					f, err := os.OpenFile(p, os.O_WRONLY, 0)
					if err != nil {
						return err
					}
					if err := f.Close(); err != nil {
						return err
					}
				}
				return nil
			}),
			undo: func(*runner, *instance) error { return nil }},
		{name: "create-delete", mode: shared, writes: true, doc: "create small files (100 bytes) in a new directory, then delete them and it",
			run: createDelete},
		{name: "list-big", mode: shared, doc: "list the big directory (ls -f)",
			run: timed(func(ctx context.Context, r *runner) error {
				f, err := os.Open(bigDirPath)
				if err != nil {
					return err
				}
				names, err := f.Readdirnames(-1)
				f.Close()
				if err == nil && len(names) != r.ds.model.spec.BigDir {
					err = fmt.Errorf("%s lists %d entries, not %d: %w", bigDirPath, len(names), r.ds.model.spec.BigDir, ErrWrongResult)
				}
				return err
			})},
		{name: "untar", mode: fresh, writes: true, doc: "unpack a tar into a new directory with GNU tar",
			skip: needTool("tar"),
			run: func(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
				dest := filepath.Join(in.root, scratchDir, "untar")
				if err := os.Mkdir(dest, 0o755); err != nil {
					return 0, err
				}
				t0 := time.Now()
				err := r.command(ctx, "tar", "-xf", r.ds.untarSource(), "-C", dest).run()
				return time.Since(t0), err
			},
			undo: func(r *runner, in *instance) error { return os.RemoveAll(filepath.Join(in.root, scratchDir, "untar")) }},
		{name: "grep", mode: shared, doc: "find tree -type f -print0 | xargs -0 grep -lF NEEDLE",
			skip: needTool("find", "xargs", "grep"),
			run: func(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
				c := r.command(ctx, "sh", "-c", "find "+treeDir+" -type f -print0 | xargs -0 grep -lF "+needle)
				c.Dir = in.root
				t0 := time.Now()
				out, err := c.output()
				d := time.Since(t0)
				// xargs exits 123 when one of its greps found nothing, which
				// most batches do; the count below says whether grep read
				// right, and a failed read would have said so on stderr.
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() == 123 && c.stderr.Len() == 0 {
					err = nil
				}
				if n := strings.Count(out, "\n"); err == nil && n != r.ds.Info.Stats.Needles {
					err = fmt.Errorf("grep found the needle in %d files, not %d: %w", n, r.ds.Info.Stats.Needles, ErrWrongResult)
				}
				return d, err
			}},
		{name: "run", mode: own, doc: "start /bin/true in a container and remove it: lfs run --rm on lfs; mount, runc run, unmount elsewhere; runc run on native",
			skip: skipRun, run: runContainer, tool: runTool},
		{name: "bwrap", mode: own, doc: "mount, bwrap --unshare-all /bin/true in it, unmount (native: bwrap alone)",
			skip: skipBwrap, run: runBwrap},
	}
	m := map[string]*workload{}
	for _, w := range ws {
		m[w.name] = w
	}
	return m
}

// ErrWrongResult is what a workload fails with when a filesystem answered,
// but not what the dataset holds.
var ErrWrongResult = errors.New("wrong result")

// timed measures fn, run inside the instance's root.
func timed(fn func(ctx context.Context, r *runner) error) func(context.Context, *runner, *instance) (time.Duration, error) {
	return func(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
		var d time.Duration
		err := r.within(in, func() error {
			t0 := time.Now()
			err := fn(ctx, r)
			d = time.Since(t0)
			return err
		})
		return d, err
	}
}

// walkTree calls fn for every entry below tree/, with a path relative to
// the working directory (the instance's root).
func walkTree(ctx context.Context, fn func(p string, d fs.DirEntry) error) error {
	n := 0
	return filepath.WalkDir(treeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return fn(p, d)
	})
}

func readFile(ctx context.Context, p string, buf []byte) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := 0; ; i++ {
		_, err := f.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// randRead makes spec.RandReads reads of 4 KiB at 4 KiB-aligned offsets
// of the big file, the same offsets every run. With fio it is fio's psync
// engine, and the time is the sum of fio's read latencies (without fio's
// start-up); without it, pread in this process.
func randRead(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
	spec := r.ds.model.spec
	if r.fio != "" {
		c := r.command(ctx, "fio", "--name=rand-read", "--filename="+bigFilePath, "--readonly", "--rw=randread",
			"--bs=4k", "--ioengine=psync", "--size="+strconv.FormatInt(spec.BigFile, 10),
			"--number_ios="+strconv.Itoa(spec.RandReads), "--randrepeat=0", "--randseed="+strconv.FormatUint(spec.Seed, 10),
			"--invalidate=0", "--output-format=json")
		c.Dir = in.root
		out, err := c.output()
		if err != nil {
			return 0, err
		}
		return fioTime(out, spec.RandReads)
	}
	var d time.Duration
	err := r.within(in, func() error {
		f, err := os.Open(bigFilePath)
		if err != nil {
			return err
		}
		defer f.Close()
		rng := rand.New(rand.NewPCG(spec.Seed, 4096))
		buf := make([]byte, 4096)
		blocks := spec.BigFile / 4096
		t0 := time.Now()
		for i := range spec.RandReads {
			if _, err := f.ReadAt(buf, rng.Int64N(blocks)*4096); err != nil {
				return err
			}
			if i%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		d = time.Since(t0)
		return nil
	})
	return d, err
}

// fioTime reads fio's JSON: the total of its read latencies, and checks
// it did every read.
func fioTime(out string, want int) (time.Duration, error) {
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:] // fio may warn before the JSON
	}
	var res struct {
		Jobs []struct {
			Error int `json:"error"`
			Read  struct {
				TotalIOs int `json:"total_ios"`
				LatNS    struct {
					Mean float64 `json:"mean"`
				} `json:"lat_ns"`
			} `json:"read"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Jobs) != 1 {
		return 0, fmt.Errorf("fio: unreadable output: %.200s", out)
	}
	j := res.Jobs[0]
	if j.Error != 0 || j.Read.TotalIOs != want {
		return 0, fmt.Errorf("fio: error %d, %d reads of %d: %w", j.Error, j.Read.TotalIOs, want, ErrWrongResult)
	}
	return time.Duration(j.Read.LatNS.Mean * float64(j.Read.TotalIOs)), nil
}

func createDelete(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
	var d time.Duration
	err := r.within(in, func() error {
		dir := filepath.Join(scratchDir, "create-delete")
		data := []byte(strings.Repeat("x", 99) + "\n")
		n := r.ds.model.spec.Creates
		t0 := time.Now()
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		for i := range n {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), data, 0o644); err != nil {
				return err
			}
		}
		for i := range n {
			if err := os.Remove(filepath.Join(dir, "f"+strconv.Itoa(i))); err != nil {
				return err
			}
		}
		err := os.Remove(dir)
		d = time.Since(t0)
		return err
	})
	if err != nil {
		os.RemoveAll(filepath.Join(in.root, scratchDir, "create-delete"))
	}
	return d, err
}

func needTool(names ...string) func(*runner, *fsys) string {
	return func(*runner, *fsys) string {
		for _, n := range names {
			if _, err := exec.LookPath(n); err != nil {
				return n + " is not installed"
			}
		}
		return ""
	}
}
