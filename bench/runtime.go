package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The container cycle: start /bin/true (the base layer's busybox) in a
// container and remove it. On lfs it is lfs's own cycle, `lfs run --rm
// --network none` (mount, namespaces, pivot_root, exec, exit, unmount,
// remove); on the other unions it is the cycle of an engine that pairs a
// union mount with an OCI runtime: mount on a fresh upper, `runc run`,
// unmount, remove the upper; on native, `runc run` on the merged tree,
// which makes no union at all. The bwrap workload pairs each mount with
// bubblewrap instead, the smallest sandbox there is.

// runtimeProbe is whether a container runtime works here: tried once on
// the native tree.
type runtimeProbe struct {
	done bool
	skip string
	// prefix runs the runtime: runc on this host's hybrid cgroup layout
	// may need a mount namespace without /sys/fs/cgroup/unified.
	prefix []string
	note   string
}

func skipRun(r *runner, f *fsys) string {
	if r.ds.Info.Busybox == "" {
		return "the base layer has no busybox (install busybox-static)"
	}
	if f.name == "lfs" {
		return r.probe(&r.lfsRun, func() error {
			return r.lfs(context.Background(), "run", "--rm", "--network", "none", r.ds.Info.Image, "/bin/true")
		})
	}
	return r.probeRunc()
}

func runTool(r *runner) string { return r.runc.note }

func (r *runner) probeRunc() string {
	if r.runc.done {
		return r.runc.skip
	}
	if !r.asRoot {
		r.runc = runtimeProbe{done: true, skip: "runc needs root here (lfs bench does not set up rootless runc)"}
		return r.runc.skip
	}
	if _, err := exec.LookPath("runc"); err != nil {
		r.runc = runtimeProbe{done: true, skip: "runc is not installed"}
		return r.runc.skip
	}
	try := func() error {
		b, err := r.bundle(r.ds.native())
		if err != nil {
			return err
		}
		defer os.RemoveAll(b)
		return r.runcRun(context.Background(), b)
	}
	if err := try(); err != nil {
		// Issue 5's workaround for a hybrid cgroup layout that crun and
		// runc refuse: a mount namespace without cgroup v2's unified mount.
		r.runc.prefix = []string{"unshare", "-m", "sh", "-c", `umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"`}
		if err2 := try(); err2 != nil {
			r.runc = runtimeProbe{done: true, skip: "runc run fails here: " + err.Error()}
			return r.runc.skip
		}
		r.runc.note = "runc in a mount namespace without /sys/fs/cgroup/unified"
	}
	r.runc.done = true
	return ""
}

func (r *runner) probe(p *runtimeProbe, try func() error) string {
	if !p.done {
		p.done = true
		if err := try(); err != nil {
			p.skip = "fails here: " + err.Error()
		}
	}
	return p.skip
}

// runcRun runs the bundle's /bin/true with runc, as a container of its
// own name.
func (r *runner) runcRun(ctx context.Context, bundle string) error {
	state := filepath.Join(r.runDir, "runc")
	id := fmt.Sprintf("lfs-bench-%d-%s", os.Getpid(), filepath.Base(bundle))
	r.runcIDs[id] = true
	args := append(append([]string{}, r.runc.prefix...), "runc", "--root", state, "run", "--bundle", bundle, id)
	err := r.command(ctx, args[0], args[1:]...).run()
	if err == nil {
		delete(r.runcIDs, id)
	}
	return err
}

// bundle writes an OCI bundle for root: runc spec's defaults (mount, pid,
// ipc, uts and network namespaces, /proc, /dev, /sys), a writable root,
// /bin/true.
func (r *runner) bundle(root string) (string, error) {
	if r.runcSpec == nil {
		tmp := filepath.Join(r.runDir, "runc-spec")
		defer os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return "", err
		}
		if out, err := exec.Command("runc", "spec", "--bundle", tmp).CombinedOutput(); err != nil {
			return "", fmt.Errorf("runc spec: %s", strings.TrimSpace(string(out)))
		}
		b, err := os.ReadFile(filepath.Join(tmp, "config.json"))
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(b, &r.runcSpec); err != nil {
			return "", fmt.Errorf("runc spec: %w", err)
		}
	}
	proc, _ := r.runcSpec["process"].(map[string]any)
	if proc == nil {
		return "", fmt.Errorf("runc spec: no process")
	}
	proc["terminal"], proc["args"] = false, []string{"/bin/true"}
	r.runcSpec["root"] = map[string]any{"path": root, "readonly": false}
	b, err := json.Marshal(r.runcSpec)
	if err != nil {
		return "", err
	}
	r.seq++
	dir := filepath.Join(r.runDir, fmt.Sprintf("bundle-%d", r.seq))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
}

func runContainer(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
	if in.fs.name == "lfs" {
		t0 := time.Now()
		err := r.lfs(ctx, "run", "--rm", "--network", "none", r.ds.Info.Image, "/bin/true")
		return time.Since(t0), err
	}
	root := in.mnt
	if in.isNative() {
		root = r.ds.native()
	}
	b, err := r.bundle(root)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(b)
	return r.cycle(ctx, in, func() error { return r.runcRun(ctx, b) })
}

func skipBwrap(r *runner, f *fsys) string {
	if r.ds.Info.Busybox == "" {
		return "the base layer has no busybox (install busybox-static)"
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		return "bwrap is not installed"
	}
	if f.name == "overlay" && !r.asRoot {
		return "a rootless overlayfs mount lives in its helper's user namespace, which bwrap's own cannot enter"
	}
	return r.probe(&r.bwrapRun, func() error {
		return r.bwrap(context.Background(), r.ds.native())
	})
}

func runBwrap(ctx context.Context, r *runner, in *instance) (time.Duration, error) {
	return r.cycle(ctx, in, func() error { return r.bwrap(ctx, in.root) })
}

func (r *runner) bwrap(ctx context.Context, root string) error {
	return r.command(ctx, "bwrap", "--unshare-all", "--die-with-parent", "--bind", root, "/",
		"--proc", "/proc", "--dev", "/dev", "/bin/true").run()
}

// cycle times mount, start, unmount and the removal of the upper; native
// has only the start.
func (r *runner) cycle(ctx context.Context, in *instance, start func() error) (time.Duration, error) {
	t0 := time.Now()
	if err := r.mountIn(ctx, in); err != nil {
		return 0, err
	}
	err := start()
	if uerr := r.unmount(in); err == nil {
		err = uerr
	}
	return time.Since(t0), err
}
