package build

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
)

func TestParseDockerfileErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"FROM a\nBOGUS x\n", "Dockerfile:2: unknown instruction: BOGUS"},
		{"FROM a\nENTRYPOINT [\"a\" \"b\"]\n", "Dockerfile:2: ENTRYPOINT: invalid JSON in the exec form"},
		{"RUN x\n", "Dockerfile:1: no build stage in current context"},
		{"FROM a\nCMD [\"a\", 1]\n", "Dockerfile:2:"},
		{"FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"},
		{"# escape=`\nFROM a\nCOPY\n", "Dockerfile:3: COPY requires at least two arguments"},
	} {
		_, err := ParseDockerfile("Dockerfile", []byte(c.src))
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrDockerfile) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
	// A shell command starting with "[" is not an exec form.
	if _, err := ParseDockerfile("Dockerfile", []byte("FROM a\nRUN [ -f /x ] || echo no\n")); err != nil {
		t.Errorf("RUN [ ... ]: %v", err)
	}
}

func TestParseDockerfileForms(t *testing.T) {
	df, err := ParseDockerfile("Dockerfile", []byte(`# syntax=docker/dockerfile:1
# escape=`+"`"+`
ARG V=1
FROM busybox AS one
RUN echo a `+"`"+`
    b
RUN <<EOF
echo heredoc
EOF
FROM one
`))
	if err != nil {
		t.Fatal(err)
	}
	if df.Escape != '`' || len(df.MetaArgs) != 1 || len(df.Stages) != 2 || df.Stages[0].Name != "one" {
		t.Fatalf("parsed: escape %q, %d meta args, %d stages", df.Escape, len(df.MetaArgs), len(df.Stages))
	}
	if got := df.Stages[0].Commands[0].(interface{ String() string }).String(); got != "RUN echo a     b" {
		t.Errorf("continuation: %q", got)
	}
}

func TestBuildArgs(t *testing.T) {
	lookup := func(k string) (string, bool) { return map[string]string{"FROMENV": "e"}[k], k == "FROMENV" }
	given, err := parseBuildArgs([]string{"A=1", "FROMENV", "UNSET", "http_proxy=p", "NEVER=x"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if *given["FROMENV"] != "e" || given["UNSET"] != nil {
		t.Errorf("given: %v", given)
	}
	b := newBuildArgs(given)
	one := "one"
	b.addMeta("M", &one)
	st := b.forStage()
	def := "d"
	st.add("A", &def)            // given 1 wins
	st.add("B", &def)            // its default
	st.add("M", nil)             // the meta value
	st.add("UNSET", nil)         // named without value: not set
	env := []string{"B=fromenv"} // ENV wins over an ARG
	if got, want := st.allowedEnv(env), []string{"A=1", "M=one", "http_proxy=p"}; !reflect.DeepEqual(got, want) {
		t.Errorf("allowedEnv = %v, want %v", got, want)
	}
	// A builtin given but never declared stays out of history.
	if got, want := st.recorded(st.allowedEnv(env)), []string{"A=1", "M=one"}; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded = %v, want %v", got, want)
	}
	if got := b.unused(); !reflect.DeepEqual(got, []string{"FROMENV", "NEVER"}) {
		t.Errorf("unused = %v", got)
	}
}

func TestNormalizeDestAndNames(t *testing.T) {
	for _, c := range []struct{ wd, dest, want string }{
		{"", "x", "/x"}, {"/app", "x", "/app/x"}, {"/app", "./", "/app/"}, {"/app", ".", "/app/"},
		{"/app", "/abs/dir/", "/abs/dir/"}, {"/app", "../y", "/y"}, {"/", "/", "/"},
	} {
		if got := normalizeDest(c.wd, c.dest); got != c.want {
			t.Errorf("normalizeDest(%q, %q) = %q, want %q", c.wd, c.dest, got, c.want)
		}
	}
	for name, want := range map[string]string{"a/b": "a/b", "./a": "a", "/a/../b": "b", "../x": "", "a/../../x": ""} {
		got, ok := insideName(name)
		if (want == "") == ok || got != want && ok {
			t.Errorf("insideName(%q) = %q, %v", name, got, ok)
		}
	}
	if !isGitURL("https://example.com/x.git") || !isGitURL("git@host:x") || isGitURL("https://example.com/x.tar") {
		t.Error("isGitURL")
	}
}

// A tree over a plain directory: symlinks resolve inside it, globs match
// one component at a time, the .dockerignore hides what it excludes.
func TestTree(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/b/c.txt", "a/d.log", "keep/x.log", "top.txt"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
	}
	os.Symlink("/a/b", filepath.Join(dir, "abs"))
	os.Symlink("../../top.txt", filepath.Join(dir, "a", "up"))
	os.Symlink("loop", filepath.Join(dir, "loop"))
	pm, err := patternmatcher.New([]string{"**/*.log", "!keep/x.log"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := openDirTree(dir, pm)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	for p, want := range map[string]string{"abs/c.txt": "a/b/c.txt", "a/up": "top.txt", "missing/x": "missing/x", "abs/../top.txt": "a/top.txt"} {
		got, err := tr.resolve(p, true)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := tr.resolve("loop", true); err == nil {
		t.Error("a symlink loop resolved")
	}
	got, err := tr.glob("*/*.*")
	if err != nil || !reflect.DeepEqual(got, []string{"keep/x.log"}) {
		t.Errorf("glob = %v, %v", got, err)
	}
	if _, _, err := tr.lstat("a/d.log"); err == nil {
		t.Error("an excluded file is visible")
	}
	es, err := walkEntries(tr, "a")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.hdr.Name)
	}
	if strings.Join(names, ",") != ",b,b/c.txt,up" {
		t.Errorf("walk: %q", names)
	}
	// Content counts in a digest, times do not.
	h1, _ := digestEntries("dir", es, false)
	os.Chtimes(filepath.Join(dir, "a/b/c.txt"), aTime, aTime)
	es2, _ := walkEntries(tr, "a")
	h2, _ := digestEntries("dir", es2, false)
	os.WriteFile(filepath.Join(dir, "a/b/c.txt"), []byte("changed"), 0o644)
	es3, _ := walkEntries(tr, "a")
	h3, _ := digestEntries("dir", es3, false)
	if h1 != h2 || h1 == h3 || !strings.HasPrefix(h1, "dir:") {
		t.Errorf("digests: %s %s %s", h1, h2, h3)
	}
}

var aTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
