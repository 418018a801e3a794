package tests

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCpStopped: docker cp's rules on a stopped container, both ways,
// with tar streams, owners as docker gives them, and symlinks in the
// container resolved in its root: /up -> / and /hostetc -> /etc are the
// container's, never the host's.
func TestCpStopped(t *testing.T) {
	s := runStore(t)
	s.mustRun(t, "run", "--name", "cc", "busybox", "sh", "-c",
		"mkdir -p /d/sub; echo a > /d/a; echo b > /d/sub/b; ln -s / /up; ln -s /etc /hostetc; echo secret > /etc/shadow; chown 7:8 /d/a")
	out := t.TempDir()
	for _, tc := range []struct {
		src, dst, check, want string
	}{
		{"cc:/d", out + "/d1", "d1/sub/b", "b\n"},
		{"cc:/d/.", out + "/", "sub/b", "b\n"},
		{"cc:/up/etc/shadow", out + "/shadow", "shadow", "secret\n"},
		{"cc:/hostetc/shadow", out + "/shadow2", "shadow2", "secret\n"},
	} {
		if r := s.runIn(t, nil, "cp", tc.src, tc.dst); r.code != 0 || !strings.HasPrefix(r.stderr, "Successfully copied ") {
			t.Errorf("cp %s %s: exit %d, %s", tc.src, tc.dst, r.code, r.stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(out, tc.check)); string(b) != tc.want {
			t.Errorf("cp %s %s: %s holds %q, want %q", tc.src, tc.dst, tc.check, b, tc.want)
		}
	}
	// Copied out: the caller's.
	var st = statOwner(t, filepath.Join(out, "d1", "a"))
	if st != "0:0" {
		t.Errorf("copied out, /d/a is %s, want the caller's 0:0", st)
	}
	// In: root's unless -a; through the container's own symlinks.
	in := filepath.Join(t.TempDir(), "in")
	os.WriteFile(in, []byte("in\n"), 0o640)
	os.Chown(in, 1234, 1234)
	s.mustRun(t, "cp", in, "cc:/up/tmp/")
	s.mustRun(t, "cp", "-a", in, "cc:/hostetc/kept")
	got := s.mustRun(t, "run", "--rm", "--entrypoint", "", s.commit(t, "cc"), "sh", "-c", "stat -c '%u:%g %a' /tmp/in /etc/kept; cat /tmp/in")
	if got != "0:0 640\n1234:1234 640\nin\n" {
		t.Errorf("copied in: %q", got)
	}
	if _, err := os.Stat("/etc/kept"); err == nil {
		t.Fatal("cp into /hostetc wrote the host's /etc")
	}
	// Tar streams.
	var tarOut bytes.Buffer
	cmd := exec.Command(lfsBin, s.args([]string{"cp", "cc:/d", "-"})...)
	cmd.Env, cmd.Stdout = baseEnv(), &tarOut
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if names := tarList(t, tarOut.Bytes()); names != "d/ d/a d/sub/ d/sub/b" {
		t.Errorf("cp c:/d -: %s", names)
	}
	if r := s.runIn(t, bytes.NewReader(tarOf(t, "streamed", "st\n")), "cp", "-", "cc:/tmp"); r.code != 0 {
		t.Fatalf("cp - c:/tmp: %s", r.stderr)
	}
	if out := s.mustRun(t, "diff", "cc"); !strings.Contains(out, "A /tmp/streamed\n") || !strings.Contains(out, "A /tmp/in\n") {
		t.Errorf("diff after cp:\n%s", out)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"cp", "cc:/nosuch", out}},
		{[]string{"cp", "cc:/d", out + "/d1/a"}},
		{[]string{"cp", in, "cc:/nodir/x/"}},
		{[]string{"cp", "cc:/d", "cc:/x"}},
		{[]string{"cp", "/a", "/b"}},
		{[]string{"cp", "nosuch:/a", "/b"}},
	} {
		checkError(t, runWith(t, opts{}, s.args(tc.args)...), tc.args)
	}
}

// commit commits the container to a fresh tag and returns it.
func (s *store) commit(t *testing.T, name string) string {
	t.Helper()
	tag := "snap-" + name + ":" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	s.mustRun(t, "commit", name, tag)
	return tag
}

func statOwner(t *testing.T, p string) string {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%u:%g", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func tarList(t *testing.T, b []byte) string {
	t.Helper()
	var names []string
	for _, h := range tarHeaders(t, b) {
		names = append(names, h.Name)
	}
	return strings.Join(names, " ")
}

func tarHeaders(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	var out []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
}

// tarOf is a tar of one file, 0644, owned by 5:6.
func tarOf(t *testing.T, name, data string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Uid: 5, Gid: 6}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(data))
	tw.Close()
	return b.Bytes()
}

// TestCpRunning: cp into and out of a running container sees its own
// files, binds included, and what it writes.
func TestCpRunning(t *testing.T) {
	s := runStore(t)
	vol := t.TempDir()
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--name", "live", "-v", vol + ":/vol", "busybox", "sh", "-c",
		"echo mine > /tmp/mine; while [ ! -e /tmp/go ]; do sleep 0.05; done; cat /tmp/go /vol/v"})...)
	cmd.Env = baseEnv()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, func() bool {
		return strings.Contains(s.mustRun(t, "ps", "--format", "{{.Names}} {{.Status}}"), "live Up ")
	})
	out := t.TempDir()
	waitFor(t, func() bool {
		return runWith(t, opts{}, s.args([]string{"cp", "live:/tmp/mine", out + "/mine"})...).code == 0
	})
	if b, _ := os.ReadFile(filepath.Join(out, "mine")); string(b) != "mine\n" {
		t.Errorf("cp out of the running container: %q", b)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "v"), []byte("through the bind\n"), 0o644)
	os.WriteFile(filepath.Join(src, "go"), []byte("go\n"), 0o644)
	s.mustRun(t, "cp", filepath.Join(src, "v"), "live:/vol/v")
	s.mustRun(t, "cp", filepath.Join(src, "go"), "live:/tmp/go")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "go\nthrough the bind\n" {
		t.Errorf("the container read %q", stdout.String())
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "v")); string(b) != "through the bind\n" {
		t.Errorf("cp into the bind's target did not reach the host dir: %q", b)
	}
}
