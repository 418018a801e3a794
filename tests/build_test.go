package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildStore is a store holding "busybox" (the test rootfs, with docker's
// PATH and CMD ["sh"]), whose cleanup fails the test if a build left a
// mount or a container behind.
func buildStore(t *testing.T) *store {
	t.Helper()
	needFUSE(t)
	f := getFixtures(t)
	s := setup(t)
	s.mustRun(t, "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--change", `CMD ["sh"]`, f.rootfs, "busybox:latest")
	t.Cleanup(func() {
		for _, mp := range mountsUnder(s.root) {
			t.Errorf("still mounted after lfs build: %s", mp)
			exec.Command("umount", "-l", mp).Run()
		}
		if c := s.containers(t); len(c) != 0 {
			t.Errorf("containers left behind: %v", c)
		}
	})
	return s
}

// writeContext makes a build context: name → content ("Dockerfile" too).
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var builtID = regexp.MustCompile(`(?m)^Successfully built ([0-9a-f]{12})$`)

// build runs lfs build and fails the test unless it succeeds; it returns
// the output and the full ID of the image.
func (s *store) build(t *testing.T, args ...string) (out, id string) {
	t.Helper()
	out = s.mustRun(t, append([]string{"build"}, args...)...)
	m := builtID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lfs build %s: no \"Successfully built\" line:\n%s", strings.Join(args, " "), out)
	}
	return out, s.id(t, m[1])
}

// steps splits build output into its steps: "Step N/M : TEXT" and the lines after.
func steps(out string) [][]string {
	var all [][]string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Step ") {
			all = append(all, []string{l})
		} else if len(all) > 0 && l != "" {
			all[len(all)-1] = append(all[len(all)-1], l)
		}
	}
	return all
}

// cachedSteps lists the numbers of the steps that said "Using cache".
func cachedSteps(out string) []int {
	var n []int
	for i, st := range steps(out) {
		for _, l := range st {
			if l == " ---> Using cache" {
				n = append(n, i+1)
			}
		}
	}
	return n
}

// TestBuildHelloWorld: the seeds' Dockerfile builds from scratch, runs,
// and its output, history and config are docker's.
func TestBuildHelloWorld(t *testing.T) {
	s := buildStore(t)
	ctx := t.TempDir()
	tarball := filepath.Join(t.TempDir(), "hello.tar")
	if err := mkrootfs("hello", tarball); err != nil {
		t.Skip(err)
	}
	sh(t, "tar", "-xf", tarball, "-C", ctx)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY hello /\nCMD [\"/hello\"]\n"), 0o644)

	out, id := s.build(t, "-t", "hello", ctx)
	re := regexp.MustCompile(`^Step 1/3 : FROM scratch
 ---> 
Step 2/3 : COPY hello /
 ---> ([0-9a-f]{12})
Step 3/3 : CMD \["/hello"\]
 ---> ([0-9a-f]{12})
Successfully built ([0-9a-f]{12})
Successfully tagged hello:latest
$`)
	m := re.FindStringSubmatch(out)
	if m == nil || m[2] != m[3] || !strings.HasPrefix(id, "sha256:"+m[3]) {
		t.Fatalf("build output:\n%s", out)
	}
	if got := s.mustRun(t, "run", "--rm", "hello"); got != "Hello from lfs!\n" {
		t.Errorf("run hello: %q", got)
	}
	// Every step is an image, runnable by ID; the COPY step has no CMD.
	if got, _, code := s.run(t, "run", "--rm", m[1], "/hello"); got != "Hello from lfs!\n" || code != 0 {
		t.Errorf("run of the COPY step's image %s: %q, exit %d", m[1], got, code)
	}
	hist := s.mustRun(t, "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "hello")
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], `|/bin/sh -c #(nop)  CMD ["/hello"]|0B`) ||
		!regexp.MustCompile(`^sha256:`+m[1]+`[0-9a-f]+\|/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in / \|`).MatchString(lines[1]) {
		t.Errorf("history:\n%s", hist)
	}
	img := s.inspect(t, "hello")
	if strings.Join(img.Config.Cmd, " ") != "/hello" || len(img.RootFS.Layers) != 1 || img.Parent != "sha256:"+hexOf(s.id(t, m[1])) {
		t.Errorf("inspect: cmd %v, layers %v, parent %q", img.Config.Cmd, img.RootFS.Layers, img.Parent)
	}
	// The layer is the file alone.
	layerNames := tarNames(t, s.layerTar(t, img.RootFS.Layers[0]))
	if strings.Join(layerNames, " ") != "hello" {
		t.Errorf("COPY layer holds %v, want [hello]", layerNames)
	}
}

// layerTar is the path of a stored layer's tar.
func (s *store) layerTar(t *testing.T, diffID string) string {
	t.Helper()
	return filepath.Join(s.root, "layers", "sha256", hexOf(diffID), "layer.tar")
}

// TestBuildCache: a second build hits every step and makes the same
// image; a changed file misses at its COPY and every step after; a build
// arg a RUN uses misses at that RUN; --no-cache misses everywhere. The
// cache never looks at times.
func TestBuildCache(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG V=1\nRUN echo run1 > /r1\nCOPY a.txt /a.txt\nRUN echo $V > /v\nCMD [\"cat\", \"/a.txt\"]\n",
		"a.txt":      "one\n",
	})
	out1, id1 := s.build(t, ctx)
	if c := cachedSteps(out1); len(c) != 0 {
		t.Fatalf("first build hit the cache at steps %v:\n%s", c, out1)
	}
	out2, id2 := s.build(t, ctx)
	if c := fmt.Sprint(cachedSteps(out2)); c != "[2 3 4 5 6]" || id2 != id1 {
		t.Errorf("second build: cached steps %s, id %s vs %s:\n%s", c, id2, id1, out2)
	}
	// A new mtime alone is no change.
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(ctx, "a.txt"), future, future)
	if _, id := s.build(t, ctx); id != id1 {
		t.Errorf("touching a.txt changed the image")
	}
	os.WriteFile(filepath.Join(ctx, "a.txt"), []byte("two\n"), 0o644)
	out3, id3 := s.build(t, ctx)
	if c := fmt.Sprint(cachedSteps(out3)); c != "[2 3]" || id3 == id1 {
		t.Errorf("after changing a.txt: cached steps %s:\n%s", c, out3)
	}
	if got := s.mustRun(t, "run", "--rm", id3); got != "two\n" {
		t.Errorf("run: %q", got)
	}
	// A mode change is a change.
	os.Chmod(filepath.Join(ctx, "a.txt"), 0o600)
	if out, _ := s.build(t, ctx); fmt.Sprint(cachedSteps(out)) != "[2 3]" {
		t.Errorf("after chmod a.txt: cached steps %v", cachedSteps(out))
	}
	os.Chmod(filepath.Join(ctx, "a.txt"), 0o644)
	out4, _ := s.build(t, "--build-arg", "V=2", ctx)
	if c := fmt.Sprint(cachedSteps(out4)); c != "[2]" {
		// The first RUN sees V too: docker keys every RUN on the args it sees.
		t.Errorf("with V=2: cached steps %s:\n%s", c, out4)
	}
	out5, id5 := s.build(t, "--no-cache", ctx)
	if c := cachedSteps(out5); len(c) != 0 || id5 == id3 {
		t.Errorf("--no-cache: cached steps %v", c)
	}
	if !strings.Contains(out5, " ---> Running in ") || !strings.Contains(out5, "Removing intermediate container ") {
		t.Errorf("RUN steps print their container:\n%s", out5)
	}
	// The cache is the intermediate images: rmi of a built image removes
	// them (as docker); the results of the builds before --no-cache stay
	// cached.
	s.mustRun(t, "tag", id5, "nocache:1")
	rmi := s.mustRun(t, "rmi", "nocache:1")
	if n := strings.Count(rmi, "Deleted: sha256:"); n < 6 {
		t.Errorf("rmi deleted %d images, want the image and its 5 intermediates:\n%s", n, rmi)
	}
	if out, id := s.build(t, "--build-arg", "V=2", ctx); fmt.Sprint(cachedSteps(out)) != "[2 3 4 5 6]" || id == id5 {
		t.Errorf("after rmi: cached steps %v", cachedSteps(out))
	}
}

// TestBuildRunFails: a failing RUN stops the build with docker's message
// and the command's status; the earlier steps are cached, nothing is left.
func TestBuildRunFails(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo ok > /ok\nRUN echo out; echo err >&2; exit 7\nRUN echo never\n"})
	r := s.runIn(t, nil, "build", ctx)
	if r.code != 7 {
		t.Fatalf("exit %d, want 7\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "err\nError: The command '/bin/sh -c echo out; echo err >&2; exit 7' returned a non-zero code: 7\n" {
		t.Errorf("stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "Step 3/4 : RUN echo out; echo err >&2; exit 7\n ---> Running in ") ||
		!strings.Contains(r.stdout, "\nout\n") || strings.Contains(r.stdout, "Step 4/4") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = s.runIn(t, nil, "build", ctx)
	if r.code != 7 || fmt.Sprint(cachedSteps(r.stdout)) != "[2]" {
		t.Errorf("second build: exit %d, cached %v", r.code, cachedSteps(r.stdout))
	}
	// A command that does not exist: 127, as docker.
	ctx2 := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN [\"/nonexistent\"]\n"})
	if r := s.runIn(t, nil, "build", ctx2); r.code != 127 || !strings.Contains(r.stderr, "The command '/nonexistent' returned a non-zero code: 127") {
		t.Errorf("exec failure: exit %d\n%s", r.code, r.stderr)
	}
}

// TestBuildInterrupt: SIGINT during a RUN stops the build at once; no
// container, mount or work area is left.
func TestBuildInterrupt(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(lfsBin, s.args([]string{"build", ctx})...)
		cmd.Env = baseEnv()
		pr, pw := io.Pipe()
		cmd.Stdout = pw
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		go func() {
			buf := make([]byte, 4096)
			var seen string
			for {
				n, err := pr.Read(buf)
				seen += string(buf[:n])
				if strings.Contains(seen, "started\n") {
					close(started)
					io.Copy(io.Discard, pr)
					return
				}
				if err != nil {
					return
				}
			}
		}()
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("the RUN never started")
		}
		t0 := time.Now()
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		pw.Close()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 128+int(sig) || time.Since(t0) > 10*time.Second {
			t.Errorf("%v: %v after %v (want exit %d)\n%s", sig, err, time.Since(t0), 128+int(sig), stderr.String())
		}
		if !strings.Contains(stderr.String(), "Error: build interrupted") {
			t.Errorf("%v: stderr %q", sig, stderr.String())
		}
		if c := s.containers(t); len(c) != 0 {
			t.Errorf("%v: containers left: %v", sig, c)
		}
		if m := mountsUnder(s.root); len(m) != 0 {
			t.Errorf("%v: mounts left: %v", sig, m)
		}
	}
}

// TestBuildBadDockerfiles: mistakes give one line naming the file and
// line, exit 125, and store nothing.
func TestBuildBadDockerfiles(t *testing.T) {
	s := buildStore(t)
	for _, c := range []struct {
		name, dockerfile, want string
		// parse: refused before any step runs, so the store is unchanged
		// (a later failure keeps the steps before it, as docker does).
		parse bool
	}{
		{"unknown instruction", "FROM busybox\nRUN true\nFROB x\n", "Dockerfile:3: unknown instruction: FROB", true},
		{"bad JSON", "FROM busybox\nCMD [\"sh\" \"-c\"]\n", "Dockerfile:2: CMD: invalid JSON in the exec form", true},
		{"missing FROM", "# nothing\nRUN true\n", "Dockerfile:2: no build stage in current context", true},
		{"empty", "", "Dockerfile: file with no instructions", true},
		{"missing COPY source", "FROM busybox\n\nCOPY nothere.txt /\n", "Dockerfile:3: COPY failed: file not found in build context or excluded by .dockerignore: stat nothere.txt: file does not exist", true},
		{"ARG after its use in FROM", "FROM busybox\nARG BASE=busybox\nFROM $BASE\n", "Dockerfile:3: base name ($BASE) should not be blank", false},
		{"bad stop signal", "FROM busybox\nSTOPSIGNAL NOSUCH\n", "Dockerfile:2: invalid signal: NOSUCH", true},
		{"unknown stage in COPY --from", "FROM busybox\nCOPY --from=nostage /x /\n", "Dockerfile:2: invalid from flag value nostage", true},
		{"RUN --mount", "FROM busybox\nRUN --mount=type=cache,target=/x true\n", "Dockerfile:2: RUN --mount is not supported", true},
	} {
		ctx := writeContext(t, map[string]string{"Dockerfile": c.dockerfile})
		var msg string
		if c.parse {
			msg = s.mustFail(t, nil, nil, "build", ctx)
		} else {
			msg = checkError(t, s.runIn(t, nil, "build", ctx), []string{"build", ctx})
		}
		if !strings.HasPrefix(msg, c.want) {
			t.Errorf("%s: %q, want it to start with %q", c.name, msg, c.want)
		}
	}
	// An unknown target, -f that does not exist.
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	s.mustFail(t, nil, []string{`target stage "nope" could not be found`}, "build", "--target", "nope", ctx)
	s.mustFail(t, nil, []string{"nothere"}, "build", "-f", filepath.Join(ctx, "nothere"), ctx)
	s.mustFail(t, nil, []string{"not found"}, "build", filepath.Join(ctx, "missing-dir"))
}

// TestBuildStdin: "-" takes a Dockerfile alone or a context tar.
func TestBuildStdin(t *testing.T) {
	s := buildStore(t)
	out := s.mustRunIn(t, strings.NewReader("FROM busybox\nRUN echo from stdin > /f\n"), "build", "-t", "lone", "-")
	if !strings.Contains(out, "Successfully tagged lone:latest") {
		t.Fatalf("build -:\n%s", out)
	}
	if got := s.mustRun(t, "run", "--rm", "lone", "cat", "/f"); got != "from stdin\n" {
		t.Errorf("run: %q", got)
	}
	// A COPY without a context fails clearly.
	r := s.runIn(t, strings.NewReader("FROM busybox\nCOPY x /\n"), "build", "-")
	if r.code != 125 || !strings.Contains(r.stderr, "no build context") {
		t.Errorf("COPY without context: %d %q", r.code, r.stderr)
	}
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", "a/b.txt": "b\n"})
	var tarball bytes.Buffer
	c := exec.Command("tar", "-czf", "-", "-C", ctx, ".")
	c.Stdout = &tarball
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	out = s.mustRunIn(t, &tarball, "build", "-q", "-")
	id := strings.TrimSpace(out)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("build -q - < context.tar.gz: %q", out)
	}
	if got := s.mustRun(t, "run", "--rm", id, "cat", "/ctx/a/b.txt"); got != "b\n" {
		t.Errorf("run: %q", got)
	}
	iid := filepath.Join(t.TempDir(), "iid")
	s.mustRun(t, "build", "-q", "--iidfile", iid, ctx)
	if b, _ := os.ReadFile(iid); string(b) != id {
		t.Errorf("--iidfile: %q, want %q (same context, so cached)", b, id)
	}
}

// TestBuildMultiStage: COPY --from a stage by name and by index, from an
// image; --target stops at a stage.
func TestBuildMultiStage(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS builder
RUN mkdir -p /out/sub && echo built > /out/artifact && echo deep > /out/sub/f && chown 1234:5678 /out/artifact

FROM busybox AS second
RUN echo second > /second

FROM scratch
COPY --from=builder /out/ /app/
COPY --from=1 /second /
COPY --from=busybox /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/app/artifact", "/app/sub/f", "/second"]
`})
	out, id := s.build(t, "-t", "multi", ctx)
	if got := s.mustRun(t, "run", "--rm", "multi"); got != "built\ndeep\nsecond\n" {
		t.Errorf("run: %q\n%s", got, out)
	}
	// --from keeps owners.
	if got := s.mustRun(t, "run", "--rm", "multi", "/bin/busybox", "stat", "-c", "%u:%g", "/app/artifact"); got != "1234:5678\n" {
		t.Errorf("owner of a file copied from a stage: %q", got)
	}
	if n := len(s.inspect(t, id).RootFS.Layers); n != 3 {
		t.Errorf("final image has %d layers, want 3", n)
	}
	out, tid := s.build(t, "--target", "builder", ctx)
	if strings.Contains(out, "FROM busybox AS second") || s.mustRun(t, "run", "--rm", tid, "cat", "/out/artifact") != "built\n" {
		t.Errorf("--target builder:\n%s", out)
	}
}

// TestBuildDockerignore: .dockerignore patterns as docker reads them,
// exceptions included; an excluded file named by COPY is not found.
func TestBuildDockerignore(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\n",
		".dockerignore": "# comment\n*.log\n!keep.log\nsecret\ndocs/**/*.md\n!docs/README.md\n/tmp*\nDockerfile\n",
		"a.txt":         "a", "b.log": "b", "keep.log": "k", "secret/s": "s",
		"docs/README.md": "r", "docs/x/y.md": "y", "docs/x/z.txt": "z", "tmpdir/f": "t", "sub/c.log": "c",
	})
	_, id := s.build(t, ctx)
	got := s.mustRun(t, "run", "--rm", id, "find", "/ctx")
	want := "/ctx\n/ctx/.dockerignore\n/ctx/a.txt\n/ctx/docs\n/ctx/docs/README.md\n/ctx/docs/x\n/ctx/docs/x/z.txt\n/ctx/keep.log\n/ctx/sub\n/ctx/sub/c.log\n"
	if sortLines(got) != want {
		t.Errorf("copied:\n%s\nwant:\n%s", sortLines(got), want)
	}
	os.WriteFile(filepath.Join(ctx, "Dockerfile.2"), []byte("FROM busybox\nCOPY b.log /\n"), 0o644)
	s.mustFail(t, nil, []string{"Dockerfile.2:2: COPY failed: file not found in build context or excluded by .dockerignore"},
		"build", "-f", filepath.Join(ctx, "Dockerfile.2"), ctx)
}

func sortLines(s string) string {
	ls := lines(s)
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			if ls[j] < ls[i] {
				ls[i], ls[j] = ls[j], ls[i]
			}
		}
	}
	return strings.Join(ls, "\n") + "\n"
}

// TestBuildAddArchives: ADD extracts local tar, tar.gz, tar.bz2, tar.xz
// and tar.zst archives, copies other files as they are, fetches URLs
// (mode 0600, the Last-Modified time) and refuses git sources.
func TestBuildAddArchives(t *testing.T) {
	needTools(t, "tar", "gzip", "bzip2", "xz", "zstd")
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{"src/dir/inner.txt": "inner\n", "plain.gz": ""})
	sh(t, "chown", "-R", "4321:4321", filepath.Join(ctx, "src"))
	for _, c := range []struct{ name, flag string }{{"a.tar", ""}, {"a.tar.gz", "-z"}, {"a.tar.bz2", "-j"}, {"a.tar.xz", "-J"}, {"a.tar.zst", "--zstd"}} {
		args := []string{"-cf", filepath.Join(ctx, c.name), "-C", filepath.Join(ctx, "src"), "dir"}
		if c.flag != "" {
			args = append([]string{c.flag}, args...)
		}
		sh(t, "tar", args...)
	}
	// A gzip file that holds no tar is copied, not extracted.
	sh(t, "sh", "-c", "echo not a tar | gzip > "+filepath.Join(ctx, "plain.gz"))
	modified := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
		fmt.Fprint(w, "fetched\n")
	}))
	defer srv.Close()
	df := "FROM busybox\n"
	for _, n := range []string{"a.tar", "a.tar.gz", "a.tar.bz2", "a.tar.xz", "a.tar.zst"} {
		df += "ADD " + n + " /x/" + n + "/\n"
	}
	df += "ADD plain.gz /\nADD " + srv.URL + "/file.txt /fetched/\n"
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644)
	_, id := s.build(t, ctx)
	script := `for n in a.tar a.tar.gz a.tar.bz2 a.tar.xz a.tar.zst; do cat /x/$n/dir/inner.txt; stat -c %u /x/$n/dir/inner.txt; done
zcat /plain.gz; stat -c '%a %Y' /fetched/file.txt; cat /fetched/file.txt`
	got := s.mustRun(t, "run", "--rm", id, "sh", "-c", script)
	want := strings.Repeat("inner\n4321\n", 5) + fmt.Sprintf("not a tar\n600 %d\nfetched\n", modified.Unix())
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, src := range []string{"https://github.com/moby/moby.git", "git@github.com:moby/moby.git"} {
		os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nADD "+src+" /src\n"), 0o644)
		s.mustFail(t, nil, []string{"Dockerfile:2: ADD " + src + ": git sources are not supported"}, "build", ctx)
	}
}

// TestBuildLargeContext: a context of 10,000 files builds, is copied
// whole, and a second build hits the cache.
func TestBuildLargeContext(t *testing.T) {
	s := buildStore(t)
	ctx := t.TempDir()
	for i := 0; i < 10000; i++ {
		d := filepath.Join(ctx, "files", fmt.Sprintf("d%02d", i%100))
		if i < 100 {
			os.MkdirAll(d, 0o755)
		}
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), []byte(fmt.Sprint(i)), 0o644)
	}
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nCOPY files /files\nRUN find /files -type f | wc -l > /count\n"), 0o644)
	_, id := s.build(t, ctx)
	if got := s.mustRun(t, "run", "--rm", id, "cat", "/count", "/files/d42/f04242"); got != "10000\n4242" {
		t.Errorf("run: %q", got)
	}
	out, id2 := s.build(t, ctx)
	if fmt.Sprint(cachedSteps(out)) != "[2 3]" || id2 != id {
		t.Errorf("second build: cached %v", cachedSteps(out))
	}
}

// TestBuildOnbuild: ONBUILD is stored and runs when the image is a FROM.
func TestBuildOnbuild(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY f /f\n"})
	s.build(t, "-t", "parent", ctx)
	if ob := s.inspect(t, "parent").Config.OnBuild; strings.Join(ob, "|") != "RUN echo triggered > /onbuild|COPY f /f" {
		t.Errorf("OnBuild: %q", ob)
	}
	ctx2 := writeContext(t, map[string]string{"Dockerfile": "FROM parent\nCMD [\"cat\", \"/onbuild\", \"/f\"]\n", "f": "file\n"})
	out, id := s.build(t, ctx2)
	if !strings.Contains(out, "# Executing 2 build triggers\n") {
		t.Errorf("output:\n%s", out)
	}
	if got := s.mustRun(t, "run", "--rm", id); got != "triggered\nfile\n" {
		t.Errorf("run: %q", got)
	}
	if ob := s.inspect(t, id).Config.OnBuild; len(ob) != 0 {
		t.Errorf("triggers kept in the child: %q", ob)
	}
}

// TestBuildRunOneFile: a RUN that appends a line to /etc/profile in an
// image holding a large file costs one small file, not the image.
func TestBuildRunOneFile(t *testing.T) {
	s := buildStore(t)
	big := t.TempDir()
	f, _ := os.Create(filepath.Join(big, "big"))
	f.Truncate(256 << 20)
	f.Close()
	os.WriteFile(filepath.Join(big, "Dockerfile"), []byte("FROM busybox\nCOPY big /big\n"), 0o644)
	s.build(t, "-t", "bigimg", big)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM bigimg\nRUN echo 'export X=1' >> /etc/profile\n"})
	_, id := s.build(t, ctx)
	layers := s.inspect(t, id).RootFS.Layers
	last := s.layerTar(t, layers[len(layers)-1])
	fi, err := os.Stat(last)
	if err != nil || fi.Size() > 16<<10 {
		t.Fatalf("RUN's layer: %v, %d bytes", err, fi.Size())
	}
	if names := strings.Join(tarNames(t, last), " "); names != "etc etc/profile" {
		t.Errorf("RUN's layer holds %s", names)
	}
}

// TestBuildRunConfined: RUN steps run as docker runs them, with the
// default capabilities and seccomp profile: a mount fails, and the
// process status shows the filter.
func TestBuildRunConfined(t *testing.T) {
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN grep -E '^(Seccomp|CapEff):' /proc/self/status > /status; mkdir /m; mount -t tmpfs t /m 2>/dev/null && echo mounted >> /status || true\n"})
	_, id := s.build(t, ctx)
	out := s.mustRun(t, "run", "--rm", id, "cat", "/status")
	if out != "CapEff:\t00000000a80425fb\nSeccomp:\t2\n" {
		t.Errorf("a RUN step's status: %q, want docker's 14 capabilities, a seccomp filter and no mount", out)
	}
}
