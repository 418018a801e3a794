package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childDirEnv makes the test binary the child of TestSignalCleanup: it
// runs the benchmark on that directory as lfs bench does, until a signal.
const childDirEnv = "LFS_BENCH_TEST_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(signalChild(dir))
	}
	code := m.Run()
	if testDir.dir != "" {
		os.RemoveAll(testDir.dir)
	}
	os.Exit(code)
}

// signalChild is cmd/lfs/bench.go in small: SIGINT and SIGTERM cancel the
// run. It exits 3 when the run ended because of one.
func signalChild(dir string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	spec := tinySpec
	_, err := Run(ctx, Options{Spec: &spec, Runs: 100000, Dir: dir, Workloads: []string{"read-all"}})
	if errors.Is(err, context.Canceled) {
		return 3
	}
	fmt.Fprintln(os.Stderr, "child:", err)
	return 1
}

// testDir is one directory for the tests that run the benchmark, so that
// the tiny dataset is made once.
var testDir struct {
	once sync.Once
	dir  string
}

func needRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: kernel overlayfs mounts, owners in the dataset")
	}
	testDir.once.Do(func() {
		// Under /var/tmp: /tmp may be a tmpfs, and the dataset's trees
		// want the disk lfs bench is meant for.
		d, err := os.MkdirTemp("/var/tmp", "lfs-bench-test-")
		if err != nil {
			d, _ = os.MkdirTemp("", "lfs-bench-test-")
		}
		testDir.dir = d
	})
	return testDir.dir
}

func noMountsUnder(t *testing.T, dir string) {
	t.Helper()
	if m := mountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", dir, m)
		for _, mp := range m {
			unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
}

// TestRunTiny runs every workload on every filesystem this machine has
// (lfs's two need the lfs binary: the end-to-end test runs them) and holds
// the report to what it must contain.
func TestRunTiny(t *testing.T) {
	dir := needRoot(t)
	spec := tinySpec
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Options{Spec: &spec, Runs: 2, Dir: dir, Progress: &progress, LfsVersion: "test"})
	noMountsUnder(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	if rep.Failed() {
		t.Fatalf("a workload failed:\n%s", table.String())
	}
	fsByName := map[string]FSInfo{}
	for _, f := range rep.Filesystems {
		fsByName[f.Name] = f
	}
	if !strings.Contains(fsByName["lfs"].Skipped, "no lfs binary") {
		t.Errorf("lfs without a binary: %+v", fsByName["lfs"])
	}
	for _, f := range rep.Filesystems {
		if f.Error != "" {
			t.Errorf("%s: %s", f.Name, f.Error)
		}
	}
	measured := map[string]int{}
	for _, res := range rep.Results {
		ran := fsByName[res.FS].Skipped == "" && res.Skipped == ""
		if ran && (res.Median == nil || len(res.Runs) != 2) {
			t.Errorf("%s on %s: %d runs, median %v", res.Workload, res.FS, len(res.Runs), res.Median)
		}
		if res.Median != nil {
			measured[res.FS]++
		}
		if res.FS == "overlay" && res.Median != nil && *res.RatioOverlay != 1 {
			t.Errorf("%s: overlay over itself is %g", res.Workload, *res.RatioOverlay)
		}
		if res.Skipped != "" && res.FS == "overlay" {
			t.Errorf("%s skipped on overlay as root: %s", res.Workload, res.Skipped)
		}
	}
	if measured["overlay"] != len(Workloads) || measured["native"] != len(Workloads)-1 {
		t.Errorf("measured %v; every workload should run on overlay, all but mount on native:\n%s", measured, table.String())
	}
	if !strings.Contains(progress.String(), "read-all warm") || !strings.Contains(progress.String(), "generating the tiny dataset") {
		t.Errorf("the progress lines lack the phases and workloads:\n%s", progress.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "run")); !os.IsNotExist(err) {
		t.Errorf("the run's directory is still there: %v", err)
	}

	// A second run reuses the dataset.
	info, err := os.Stat(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "data"))
	stamp, _ := os.Stat(filepath.Join(dir, "data", ents[0].Name(), "dataset.json"))
	if _, err := Run(context.Background(), Options{Spec: &spec, Runs: 1, Dir: dir, Filesystems: []string{"native"}, Workloads: []string{"list-big"}}); err != nil {
		t.Fatal(err)
	}
	again, _ := os.Stat(filepath.Join(dir, "data", ents[0].Name(), "dataset.json"))
	if !again.ModTime().Equal(stamp.ModTime()) || !info.IsDir() {
		t.Error("the second run made the dataset again")
	}
}

// TestSignalCleanup: SIGTERM in the middle of a run unmounts everything
// (kernel overlayfs and the FUSE ones), and nothing of the run's is left.
func TestSignalCleanup(t *testing.T) {
	root := needRoot(t)
	dir := filepath.Join(root, "signal")
	// The dataset is the shared one's: link it in rather than make it again.
	os.MkdirAll(dir, 0o755)
	if _, err := os.Stat(filepath.Join(root, "data")); err == nil {
		os.Symlink(filepath.Join(root, "data"), filepath.Join(dir, "data"))
	}
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	want := 2 // overlay and fuse-overlayfs
	if _, err := exec.LookPath("fuse-overlayfs"); err != nil {
		want = 1
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(mountsUnder(filepath.Join(dir, "run"))) < want {
		select {
		case err := <-done:
			t.Fatalf("the child ended before mounting: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no mounts under %s after 2 minutes\n%s", dir, stderr.String())
		}
	}
	time.Sleep(time.Second) // into the workloads
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("the child: %v, want exit status 3 (cancelled)\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the child did not end within a minute of SIGTERM")
	}
	noMountsUnder(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "run")); !os.IsNotExist(err) {
		t.Errorf("the run's directory is still there: %v", err)
	}
	// The FUSE servers end once unmounted.
	for i := 0; ; i++ {
		servers := processesNaming(filepath.Join(dir, "run"))
		if len(servers) == 0 {
			break
		}
		if i == 50 {
			t.Errorf("processes still name the run's directory: %v", servers)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesNaming lists the command lines that mention s.
func processesNaming(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// TestSweep: a run unmounts what a killed run left under the directory.
func TestSweep(t *testing.T) {
	dir := needRoot(t)
	left := filepath.Join(dir, "run", "overlay", "mnt-1")
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", left, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(left, unix.MNT_DETACH)
	spec := tinySpec
	if _, err := Run(context.Background(), Options{Spec: &spec, Runs: 1, Dir: dir, Filesystems: []string{"native"}, Workloads: []string{"list-big"}}); err != nil {
		t.Fatal(err)
	}
	noMountsUnder(t, dir)
}

func TestRefuseDir(t *testing.T) {
	if err := refuseDir(t.TempDir()); err != nil {
		t.Errorf("a plain directory: %v", err)
	}
	needRoot(t)
	base := t.TempDir()
	l, u, w, m := filepath.Join(base, "l"), filepath.Join(base, "u"), filepath.Join(base, "w"), filepath.Join(base, "m")
	for _, d := range []string{l, u, w, m} {
		os.Mkdir(d, 0o755)
	}
	opts := "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	err := refuseDir(m)
	unix.Unmount(m, 0)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "overlay filesystem") {
		t.Errorf("a directory on overlayfs: %v", err)
	}
	if _, err := exec.LookPath("fuse-overlayfs"); err != nil {
		t.Skip("fuse-overlayfs is not installed")
	}
	os.RemoveAll(w)
	os.Mkdir(w, 0o755)
	if out, err := exec.Command("fuse-overlayfs", "-o", opts, m).CombinedOutput(); err != nil {
		t.Fatalf("fuse-overlayfs: %v: %s", err, out)
	}
	err = refuseDir(m)
	unmountPath(m)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "fuse filesystem") {
		t.Errorf("a directory on FUSE: %v", err)
	}
}

func TestOptionsCheck(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Dir: dir, Runs: 1, Filesystems: []string{"zfs"}},
		{Dir: dir, Runs: 1, Workloads: []string{"stat-all", "nope"}},
		{Dir: dir, Runs: 1, Size: "huge"},
		{Dir: dir, Runs: 0},
		{Runs: 1},
	} {
		if _, err := Run(context.Background(), o); !errors.Is(err, ErrUsage) {
			t.Errorf("%+v: %v, want ErrUsage", o, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("refused options left %d entries in the directory", len(ents))
	}
}
