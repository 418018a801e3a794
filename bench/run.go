package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options are lfs bench's.
type Options struct {
	Filesystems []string // names from Filesystems; all when empty
	Workloads   []string // names from Workloads; all when empty
	Runs        int      // measured runs of each workload on each filesystem, after one warm-up
	Size        string   // a preset of SpecFor; medium when empty
	Seed        uint64   // the generator's seed
	Spec        *Spec    // instead of Size and Seed (tests)
	Cold        bool     // also run each workload after dropping caches (root)
	Dir         string   // where the dataset is cached and mounts are made
	Keep        bool     // keep this run's upper directories
	Force       bool     // use Dir even on a FUSE or overlay filesystem
	Lfs         string   // the lfs binary, for the lfs and lfs-dir mounts and lfs run
	LfsVersion  string
	Command     string    // the command line, for the report
	Progress    io.Writer // the live progress line, or nil
}

// ErrUsage is what options that cannot work fail with.
var ErrUsage = errors.New("bad usage")

// ErrBusy: another lfs bench uses the directory.
var ErrBusy = errors.New("busy")

// runner is one lfs bench run.
type runner struct {
	opt     Options
	dir     string // absolute Dir
	runDir  string // Dir/run: this run's mount points and uppers
	asRoot  bool
	machine Machine
	ds      *dataset
	prog    *progress

	fs     []*fsys           // the selected filesystems, in order
	skip   map[string]string // why a filesystem cannot run
	failed map[string]string // why a filesystem broke
	shared map[string]*instance

	live    map[*instance]bool // mounted instances, for cleanup
	runcIDs map[string]bool    // containers runc may have left
	seq     int
	cwd     string
	notes   []string // for the report

	unionfsMeta string // unionfs-fuse's metadata directory

	fio                    string // fio's version when it is installed
	runc, lfsRun, bwrapRun runtimeProbe
	runcSpec               map[string]any // runc spec's config.json
}

// Run runs the benchmark and returns its report. It unmounts everything it
// mounted before it returns, also when ctx is cancelled (then it returns
// ctx's error). A workload that fails on a filesystem is reported in its
// result; Run's error is for what stops the whole run.
func Run(ctx context.Context, o Options) (*Report, error) {
	spec, ws, names, err := o.check()
	if err != nil {
		return nil, err
	}
	r := &runner{opt: o, asRoot: os.Geteuid() == 0, prog: newProgress(o.Progress),
		skip: map[string]string{}, failed: map[string]string{}, shared: map[string]*instance{},
		live: map[*instance]bool{}, runcIDs: map[string]bool{}}
	if o.Cold && !r.asRoot {
		return nil, fmt.Errorf("bench: --cold needs root (it drops the page cache): %w", ErrUsage)
	}
	if r.dir, err = filepath.Abs(o.Dir); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if !o.Force {
		if err := refuseDir(r.dir); err != nil {
			return nil, err
		}
	}
	unlock, err := lockDir(r.dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if r.cwd, err = os.Getwd(); err != nil {
		r.cwd = "/"
	}
	defer r.prog.done()

	// What a killed run left.
	r.runDir = filepath.Join(r.dir, "run")
	if err := sweep(r.dir, r.asRoot); err != nil {
		return nil, fmt.Errorf("bench: a previous run's mounts: %w", err)
	}
	if err := os.RemoveAll(r.runDir); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := os.MkdirAll(r.runDir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer r.cleanup()

	r.machine = describeMachine(r.dir)
	started := time.Now()
	if r.ds, err = prepare(ctx, r.dir, spec, r.asRoot, r.prog); err != nil {
		return nil, err
	}
	if err := r.ds.resetNative(); err != nil {
		return nil, fmt.Errorf("bench: reset the merged tree: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if v := toolVersion("fio", "--version")(r); v != "fio" {
		r.fio = v
	} else if _, err := exec.LookPath("fio"); err == nil {
		r.fio = "fio"
	}

	all := filesystems()
	for _, n := range names {
		f := all[n]
		r.fs = append(r.fs, f)
		if why := f.check(r); why != "" {
			r.skip[n] = why
		}
	}
	// One long-lived mount of each, checked against the dataset before
	// anything is measured.
	for _, f := range r.fs {
		if r.skip[f.name] != "" {
			continue
		}
		r.prog.phase("mounting and checking " + f.name)
		in, err := r.newInstance(ctx, f)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.failed[f.name] = err.Error()
			if f.name == "overlay" && !r.asRoot {
				// A kernel that refuses overlayfs in a user namespace.
				delete(r.failed, f.name)
				r.skip[f.name] = err.Error()
			}
			continue
		}
		r.shared[f.name] = in
		if err := r.verify(ctx, in); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.failed[f.name] = err.Error()
		}
	}

	rep := r.newReport(ws, started)
	caches := []string{"warm"}
	if o.Cold {
		caches = append(caches, "cold")
	}
	var cells []*cell
	for _, w := range ws {
		for _, c := range caches {
			for _, f := range r.fs {
				cells = append(cells, &cell{w: w, f: f, cache: c})
			}
		}
	}
	r.prog.total = 0
	for _, c := range cells {
		c.res = Result{Workload: c.w.name, FS: c.f.name, Cache: c.cache}
		r.prog.total += o.Runs
		if c.cache == "warm" {
			r.prog.total++
		}
	}
	for i := 0; i < len(cells); {
		// The cells of one workload and cache, run round robin so that a
		// change in the machine's load spreads over every filesystem.
		j := i
		for j < len(cells) && cells[j].w == cells[i].w && cells[j].cache == cells[i].cache {
			j++
		}
		if err := r.runCells(ctx, cells[i:j]); err != nil {
			return nil, err
		}
		i = j
	}
	for _, c := range cells {
		rep.Results = append(rep.Results, c.res)
	}
	rep.finish(time.Since(started))
	return rep, nil
}

// check validates the options and resolves the spec, workloads and
// filesystems.
func (o *Options) check() (Spec, []*workload, []string, error) {
	var spec Spec
	var err error
	if o.Spec != nil {
		spec = *o.Spec
	} else {
		size := o.Size
		if size == "" {
			size = "medium"
		}
		if spec, err = SpecFor(size, o.Seed); err != nil {
			return spec, nil, nil, err
		}
	}
	if o.Runs < 1 {
		return spec, nil, nil, fmt.Errorf("bench: --runs %d: %w: at least 1", o.Runs, ErrUsage)
	}
	if o.Dir == "" {
		return spec, nil, nil, fmt.Errorf("bench: no directory: %w", ErrUsage)
	}
	all := workloads()
	var ws []*workload
	for _, n := range pick(o.Workloads, Workloads) {
		w, ok := all[n]
		if !ok {
			return spec, nil, nil, fmt.Errorf("bench: unknown workload %q: %w (known: %s)", n, ErrUsage, strings.Join(Workloads, ", "))
		}
		ws = append(ws, w)
	}
	names := pick(o.Filesystems, Filesystems)
	for _, n := range names {
		if !slices.Contains(Filesystems, n) {
			return spec, nil, nil, fmt.Errorf("bench: unknown filesystem %q: %w (known: %s)", n, ErrUsage, strings.Join(Filesystems, ", "))
		}
	}
	return spec, ws, names, nil
}

// pick returns the chosen names in the canonical order, each once; all of
// them when none is chosen.
func pick(chosen, all []string) []string {
	if len(chosen) == 0 {
		return all
	}
	var out []string
	for _, n := range all {
		if slices.Contains(chosen, n) {
			out = append(out, n)
		}
	}
	for _, n := range chosen {
		if !slices.Contains(all, n) {
			out = append(out, n) // check reports it
		}
	}
	return out
}

// cell is one workload on one filesystem, warm or cold.
type cell struct {
	w     *workload
	f     *fsys
	cache string
	res   Result
	ok    bool
}

func (r *runner) runCells(ctx context.Context, cells []*cell) error {
	for _, c := range cells {
		switch {
		case r.skip[c.f.name] != "":
			c.res.Skipped = r.skip[c.f.name]
		case r.failed[c.f.name] != "":
			c.res.Error = r.failed[c.f.name]
		case c.w.skip != nil:
			c.res.Skipped = c.w.skip(r, c.f)
		}
		c.ok = c.res.Skipped == "" && c.res.Error == ""
		if !c.ok {
			r.prog.step(r.opt.Runs + boolInt(c.cache == "warm"))
		}
		if c.ok && c.w.tool != nil {
			c.res.Tool = c.w.tool(r)
		}
	}
	rounds := r.opt.Runs
	warmup := cells[0].cache == "warm"
	if warmup {
		rounds++
	}
	for i := 0; i < rounds; i++ {
		for _, c := range cells {
			if !c.ok {
				continue
			}
			label := fmt.Sprintf("%s %s on %s, run %d of %d", c.w.name, c.cache, c.f.name, i+1-boolInt(warmup), r.opt.Runs)
			if warmup && i == 0 {
				label = fmt.Sprintf("%s %s on %s, warm-up", c.w.name, c.cache, c.f.name)
			}
			r.prog.status(label)
			d, err := r.once(ctx, c)
			r.prog.step(1)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				c.res.Error = err.Error()
				c.ok = false
				r.prog.step(rounds - i - 1)
				continue
			}
			if !(warmup && i == 0) {
				c.res.Runs = append(c.res.Runs, d.Seconds())
			}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// once runs a cell's workload once and returns its time.
func (r *runner) once(ctx context.Context, c *cell) (time.Duration, error) {
	cold := c.cache == "cold"
	native := c.f.name == "native"
	var in *instance
	var err error
	switch {
	case c.w.mode == own:
		if in, err = r.prepareInstance(c.f); err != nil {
			return 0, err
		}
		defer r.discard(in)
	case c.w.mode == fresh && !native:
		if in, err = r.newInstance(ctx, c.f); err != nil {
			return 0, err
		}
	case cold && !native:
		// Cold runs start from a fresh mount too: a FUSE server keeps
		// caches of its own that dropping the kernel's leaves.
		if err := r.unmount(r.shared[c.f.name]); err != nil {
			return 0, err
		}
		if in, err = r.newInstance(ctx, c.f); err != nil {
			return 0, err
		}
		r.shared[c.f.name] = in
	default:
		in = r.shared[c.f.name]
	}
	if cold {
		if err := dropCaches(); err != nil {
			return 0, err
		}
	}
	d, err := c.w.run(ctx, r, in)
	var uerr error
	switch {
	case native && c.w.undo != nil:
		uerr = c.w.undo(r, in)
	case c.w.mode == fresh:
		// Before the sync: what the run wrote goes with the upper.
		uerr = r.unmount(in)
	}
	if err == nil {
		err = uerr
	}
	if c.w.writes {
		syncDir(r.dir)
	}
	return d, err
}

// prepareInstance makes an instance's directories; it is not mounted.
func (r *runner) prepareInstance(f *fsys) (*instance, error) {
	r.seq++
	base := filepath.Join(r.runDir, f.name)
	in := &instance{fs: f}
	if f.name == "native" {
		return in, nil
	}
	in.mnt = filepath.Join(base, fmt.Sprintf("mnt-%d", r.seq))
	in.upper = filepath.Join(base, fmt.Sprintf("upper-%d", r.seq))
	in.work = filepath.Join(base, fmt.Sprintf("work-%d", r.seq))
	for _, d := range []string{in.mnt, in.upper, in.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return in, nil
}

// newInstance makes and mounts an instance.
func (r *runner) newInstance(ctx context.Context, f *fsys) (*instance, error) {
	in, err := r.prepareInstance(f)
	if err != nil {
		return nil, err
	}
	if err := r.mountIn(ctx, in); err != nil {
		r.discard(in)
		return nil, err
	}
	return in, nil
}

// mountIn mounts a prepared instance and records it for cleanup.
func (r *runner) mountIn(ctx context.Context, in *instance) error {
	in.root = in.mnt
	r.live[in] = true
	if err := in.fs.mount(ctx, r, in); err != nil {
		delete(r.live, in)
		if in.mnt != "" && len(mountsUnder(in.mnt)) > 0 {
			in.fs.unmount(r, in)
		}
		return fmt.Errorf("mount %s: %w", in.fs.name, err)
	}
	in.mounted = true
	return nil
}

// unmount unmounts an instance and removes its directories (unless Keep).
func (r *runner) unmount(in *instance) error {
	if in == nil {
		return nil
	}
	var err error
	if in.mounted {
		if err = in.fs.unmount(r, in); err == nil {
			in.mounted = false
			delete(r.live, in)
		}
	}
	if err == nil {
		r.discard(in)
	}
	return err
}

// discard removes an unmounted instance's directories.
func (r *runner) discard(in *instance) {
	if in.mounted || in.mnt == "" || r.opt.Keep {
		return
	}
	for _, d := range []string{in.mnt, in.upper, in.work} {
		os.RemoveAll(d)
	}
}

// within runs fn with the instance's root as the working directory, so
// that paths resolve from the root of the mount, as a container's do.
func (r *runner) within(in *instance, fn func() error) error {
	if err := os.Chdir(in.root); err != nil {
		return err
	}
	defer os.Chdir(r.cwd)
	return fn()
}

// cleanup unmounts every instance, deletes what runc may have left and
// unmounts anything else under the directory (a killed lfs run's mount).
func (r *runner) cleanup() {
	os.Chdir(r.cwd)
	for in := range r.live {
		if err := in.fs.unmount(r, in); err == nil {
			in.mounted = false
		}
		delete(r.live, in)
		r.discard(in)
	}
	for id := range r.runcIDs {
		exec.Command("runc", "--root", filepath.Join(r.runDir, "runc"), "delete", "-f", id).Run()
	}
	sweep(r.dir, r.asRoot)
	if !r.opt.Keep {
		os.RemoveAll(r.runDir)
	}
}

// lockDir takes dir's lock, so that two runs never share mounts and
// datasets.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: another lfs bench is using %s: %w", dir, ErrBusy)
	}
	return func() { f.Close() }, nil
}

func dropCaches() error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return fmt.Errorf("drop caches: %w", err)
	}
	return nil
}

// cmd is an external command of a workload or a mount.
type cmd struct {
	*exec.Cmd
	stdout, stderr bytes.Buffer
}

// command prepares an external command in its own process group: on
// cancellation the whole group (a pipeline's every process) gets SIGTERM,
// and SIGKILL five seconds later.
func (r *runner) command(ctx context.Context, name string, args ...string) *cmd {
	c := &cmd{Cmd: exec.CommandContext(ctx, name, args...)}
	c.Cmd.Stdout, c.Cmd.Stderr = &c.stdout, &c.stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGTERM) }
	c.WaitDelay = 5 * time.Second
	return c
}

// run runs the command; its error ends with the last line the command
// wrote on stderr.
func (c *cmd) run() error {
	if err := c.Cmd.Run(); err != nil {
		msg := strings.TrimSpace(c.stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg != "" {
			return fmt.Errorf("%s: %w: %s", filepath.Base(c.Path), err, msg)
		}
		return fmt.Errorf("%s: %w", filepath.Base(c.Path), err)
	}
	return nil
}

func (c *cmd) output() (string, error) {
	err := c.run()
	return c.stdout.String(), err
}

// lfs runs the lfs binary on the dataset's store.
func (r *runner) lfs(ctx context.Context, args ...string) error {
	return r.command(ctx, r.opt.Lfs, append([]string{"--root", r.ds.store()}, args...)...).run()
}
