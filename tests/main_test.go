package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	// lfsBin is the binary under test.
	lfsBin string
	// skipAll, when set, is why every test skips.
	skipAll string
	// repoRoot is the module's root directory.
	repoRoot string
)

// cmdTimeout bounds every command a test runs, so that a deadlock (a lock
// never released) fails the test instead of hanging the run.
const cmdTimeout = 3 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	repoRoot = filepath.Dir(wd)

	if os.Geteuid() != 0 {
		skipAll = "end-to-end tests need root (they build stores holding files of any owner); run them as root or with make test as root"
		fmt.Fprintln(os.Stderr, "tests: skipping every test:", skipAll)
		return m.Run()
	}

	tmp, err := os.MkdirTemp("", "lfs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// Fixtures and the binary live here; other users run the binary too.
	if err := os.Chmod(tmp, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	fixtureDir = filepath.Join(tmp, "fixtures")
	configFile = filepath.Join(tmp, "config.toml")
	if err := os.WriteFile(configFile, nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}

	if bin := os.Getenv("LFS_BIN"); bin != "" {
		lfsBin, err = filepath.Abs(bin)
		if err == nil {
			_, err = os.Stat(lfsBin)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tests: LFS_BIN:", err)
			return 1
		}
	} else {
		lfsBin = filepath.Join(tmp, "lfs")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			gobin = p
		}
		build := exec.Command(gobin, "build", "-o", lfsBin, "../cmd/lfs")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "tests: go build ../cmd/lfs: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// setup skips the test when the package cannot run and otherwise gives it a
// fresh store.
func setup(t *testing.T) *store {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	return newStore(t)
}

// store is one lfs store in a temp dir; its methods run lfs on it.
type store struct {
	root string
}

func newStore(t *testing.T) *store {
	t.Helper()
	return &store{root: filepath.Join(t.TempDir(), "store")}
}

// result is what one run of lfs did.
type result struct {
	stdout, stderr string
	code           int
}

// opts are the less common ways to run lfs.
type opts struct {
	stdin io.Reader
	env   []string // added to the environment
}

// configFile is an empty lfs configuration file: the tests hold lfs to its
// defaults (keep-compressed = true), whatever /etc/lfs/config.toml says.
var configFile string

// baseEnv is the environment lfs runs in: the test's own, less LFS_ROOT, so
// that no test touches a real store by accident, and with the empty
// configuration.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LFS_ROOT=") && !strings.HasPrefix(kv, "LFS_CONFIG=") {
			env = append(env, kv)
		}
	}
	return append(env, "LFS_CONFIG="+configFile)
}

func runWith(t *testing.T, o opts, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, lfsBin, args...)
	cmd.Env = append(baseEnv(), o.env...)
	cmd.Stdin = o.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		if ctx.Err() != nil {
			t.Fatalf("lfs %s: timed out after %v\nstderr: %s", strings.Join(args, " "), cmdTimeout, clip(stderr.String()))
		}
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("lfs %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// run runs lfs with exactly these arguments (no --root added).
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := runWith(t, opts{}, args...)
	return r.stdout, r.stderr, r.code
}

// mustRun runs lfs with exactly these arguments and fails the test unless it
// exits 0; it returns stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := runWith(t, opts{}, args...)
	if r.code != 0 {
		t.Fatalf("lfs %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, clip(r.stdout), clip(r.stderr))
	}
	return r.stdout
}

func (s *store) args(args []string) []string {
	return append([]string{"--root", s.root}, args...)
}

// run runs lfs on this store.
func (s *store) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, s.args(args)...)
}

// mustRun runs lfs on this store, fails the test unless it exits 0 and
// returns stdout.
func (s *store) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	return mustRun(t, s.args(args)...)
}

// runIn runs lfs on this store with stdin.
func (s *store) runIn(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return runWith(t, opts{stdin: stdin}, s.args(args)...)
}

// mustRunIn runs lfs on this store with stdin, fails the test unless it
// exits 0 and returns stdout.
func (s *store) mustRunIn(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	r := s.runIn(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("lfs %s < stdin: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, clip(r.stdout), clip(r.stderr))
	}
	return r.stdout
}

// load loads an archive (a file or an OCI layout directory) with -i.
func (s *store) load(t *testing.T, archive string) string {
	t.Helper()
	return s.mustRun(t, "load", "-i", archive)
}

// id is the full image ID (sha256:...) of ref.
func (s *store) id(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(s.mustRun(t, "inspect", "--format", "{{.Id}}", ref))
}

// inspect is lfs inspect of one image, decoded.
func (s *store) inspect(t *testing.T, ref string) inspectImage {
	t.Helper()
	out := s.mustRun(t, "inspect", ref)
	var imgs []inspectImage
	if err := jsonUnmarshal([]byte(out), &imgs); err != nil {
		t.Fatalf("lfs inspect %s: %v\n%s", ref, err, out)
	}
	if len(imgs) != 1 {
		t.Fatalf("lfs inspect %s: %d images, want 1", ref, len(imgs))
	}
	return imgs[0]
}

// state is what a failed command must not change: the image list and every
// file of the store.
type state struct {
	images string
	files  []string
}

// snapshot records the store's state. meta.db is listed by name only: bbolt
// may grow the file in place, what matters in it is what `lfs images -a`
// shows.
func (s *store) snapshot(t *testing.T) state {
	t.Helper()
	st := state{images: s.mustRun(t, "images", "-a", "--no-trunc", "-q")}
	st.files = s.listing(t, func(string) bool { return true })
	return st
}

// listing walks the store and describes each entry (path, type, size) for
// which keep(path) holds.
func (s *store) listing(t *testing.T, keep func(rel string) bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		if !keep(rel) {
			return nil
		}
		switch {
		case d.IsDir():
			files = append(files, rel+"/")
		case rel == "meta.db":
			files = append(files, rel)
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, fmt.Sprintf("%s %v %d", rel, info.Mode().Type(), info.Size()))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list store: %v", err)
	}
	return files
}

// assertUnchanged fails the test if the store differs from before.
func (s *store) assertUnchanged(t *testing.T, before state) {
	t.Helper()
	after := s.snapshot(t)
	if after.images != before.images {
		t.Errorf("images changed:\nbefore:\n%s\nafter:\n%s", before.images, after.images)
	}
	// What an earlier, killed or crashed, command left in tmp/ may go:
	// the next command cleans it up.
	var kept []string
	for _, f := range before.files {
		if !strings.HasPrefix(f, "tmp/") || slices.Contains(after.files, f) {
			kept = append(kept, f)
		}
	}
	if !slices.Equal(after.files, kept) {
		t.Errorf("store files changed:\n%s", diffLines(kept, after.files))
	}
}

// mustFail runs lfs on this store, expects the CLI's error contract (exit
// 125, one line "Error: ..." on stderr, nothing changed) and returns the
// message. When anyOf is not empty the message must contain one of them
// (case-insensitive): an error should name the problem.
func (s *store) mustFail(t *testing.T, stdin io.Reader, anyOf []string, args ...string) string {
	t.Helper()
	before := s.snapshot(t)
	r := s.runIn(t, stdin, args...)
	msg := checkError(t, r, args)
	if len(anyOf) > 0 && !containsAnyFold(msg, anyOf) {
		t.Errorf("lfs %s: error %q names none of %q", strings.Join(args, " "), clip(msg), anyOf)
	}
	s.assertUnchanged(t, before)
	return msg
}

// checkError checks the error contract on one result and returns the message.
func checkError(t *testing.T, r result, args []string) string {
	t.Helper()
	cmd := "lfs " + strings.Join(args, " ")
	if r.code != 125 {
		t.Errorf("%s: exit %d, want 125\nstdout: %s\nstderr: %s", cmd, r.code, clip(r.stdout), clip(r.stderr))
	}
	line, ok := strings.CutSuffix(r.stderr, "\n")
	if !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "Error: ") || len(line) <= len("Error: ") {
		t.Errorf("%s: stderr is not one line \"Error: MESSAGE\":\n%q", cmd, clip(r.stderr))
	}
	return strings.TrimPrefix(line, "Error: ")
}

func containsAnyFold(s string, subs []string) bool {
	s = strings.ToLower(s)
	for _, sub := range subs {
		if strings.Contains(s, strings.ToLower(sub)) {
			return true
		}
	}
	return false
}

func diffLines(a, b []string) string {
	var sb strings.Builder
	for _, x := range a {
		if !slices.Contains(b, x) {
			fmt.Fprintf(&sb, "- %s\n", x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			fmt.Fprintf(&sb, "+ %s\n", x)
		}
	}
	return sb.String()
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

var columnSep = regexp.MustCompile(`\s{2,}`)

// table splits a docker-style table (columns padded with two or more
// spaces) into its header and rows.
func table(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	ls := lines(out)
	if len(ls) == 0 {
		t.Fatalf("no table header in output %q", out)
	}
	header = columnSep.Split(strings.TrimSpace(ls[0]), -1)
	for _, l := range ls[1:] {
		rows = append(rows, columnSep.Split(strings.TrimSpace(l), -1))
	}
	return header, rows
}

// needTools skips the test unless every tool is on PATH.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
}

// sh runs a command that is not lfs and fails the test unless it succeeds.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// clip shortens output quoted in a failure (a Go panic's goroutine dump
// would bury the rest).
func clip(s string) string {
	const max = 2000
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("\n[... %d more bytes]", len(s)-max)
}
