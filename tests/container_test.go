package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestContainerLifecycle: a run is a container that ps lists with its exit
// code; diff shows what it changed; commit makes an image that runs with
// the changes, carries a history entry and loads in skopeo; export is the
// merged tree; rm removes it, and until then rmi of its image is refused.
func TestContainerLifecycle(t *testing.T) {
	s := runStore(t)
	_, stderr, code := s.run(t, "run", "--name", "c1", "busybox", "sh", "-c",
		"echo hi > /etc/motd; rm /bin/vi; mkdir /newdir; echo n > /newdir/f; exit 3")
	if code != 3 {
		t.Fatalf("run: exit %d, %s", code, stderr)
	}
	ps := s.mustRun(t, "ps", "-a")
	if !strings.HasPrefix(ps, "CONTAINER ID   IMAGE     COMMAND                  CREATED") ||
		!regexp.MustCompile(`(?m)^[0-9a-f]{12}   busybox   "sh -c echo hi > /et…"   .* ago +Exited \(3\) .* ago +c1$`).MatchString(ps) {
		t.Errorf("ps -a:\n%s", ps)
	}
	if out := s.mustRun(t, "ps"); strings.Contains(out, "c1") {
		t.Errorf("ps without -a lists an exited container:\n%s", out)
	}
	if out := s.mustRun(t, "ps", "-a", "--format", "{{.Names}} {{.State}}"); out != "c1 exited\n" {
		t.Errorf("ps --format: %q", out)
	}
	id := strings.TrimSpace(s.mustRun(t, "ps", "-aq", "--no-trunc"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("ps -aq --no-trunc: %q", id)
	}
	msg := checkError(t, runWith(t, opts{}, s.args([]string{"run", "--name", "c1", "busybox", "true"})...), []string{"run --name c1"})
	if !strings.Contains(msg, `The container name "/c1" is already in use by container "`+id+`"`) {
		t.Errorf("name conflict: %q", msg)
	}

	want := "C /bin\nD /bin/vi\nC /etc\nA /etc/motd\nA /newdir\nA /newdir/f\n"
	for _, name := range []string{"c1", id, id[:5]} {
		if out := s.mustRun(t, "diff", name); out != want {
			t.Errorf("diff %s:\n%s\nwant:\n%s", name, out, want)
		}
	}

	newID := strings.TrimSpace(s.mustRun(t, "commit", "-a", "me", "-m", "my change", "-c", "ENV K=V", "c1", "committed:1"))
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(newID) || s.id(t, "committed:1") != newID {
		t.Errorf("commit printed %q", newID)
	}
	out := s.mustRun(t, "run", "--rm", "committed:1", "sh", "-c", "cat /etc/motd /newdir/f; test -e /bin/vi || echo gone; echo $K")
	if out != "hi\nn\ngone\nV\n" {
		t.Errorf("run of the committed image: %q", out)
	}
	hist := s.mustRun(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:1")
	if first, _, _ := strings.Cut(hist, "\n"); !strings.HasPrefix(first, "sh -c echo hi > /etc/motd;") || !strings.HasSuffix(first, "|my change") ||
		strings.Count(hist, "\n") != strings.Count(s.mustRun(t, "history", "-q", "busybox"), "\n")+1 {
		t.Errorf("history:\n%s", hist)
	}
	if _, err := exec.LookPath("skopeo"); err == nil {
		archive := filepath.Join(t.TempDir(), "committed.tar")
		s.mustRun(t, "save", "--format", "oci", "-o", archive, "committed:1")
		if out, err := exec.Command("skopeo", "copy", "-q", "oci-archive:"+archive, "oci:"+filepath.Join(t.TempDir(), "copy")+":x").CombinedOutput(); err != nil {
			t.Errorf("skopeo copy of the saved commit: %v\n%s", err, out)
		}
	} else {
		t.Log("skopeo not installed: the OCI save of the commit is not checked")
	}

	exp := filepath.Join(t.TempDir(), "export.tar")
	s.mustRun(t, "export", "-o", exp, "c1")
	names := tarNames(t, exp)
	for _, n := range []string{"etc/motd", "newdir/f", "bin/sh", "etc/passwd"} {
		if !slices.Contains(names, n) {
			t.Errorf("export lacks %s", n)
		}
	}
	if slices.Contains(names, "bin/vi") {
		t.Error("export holds the deleted bin/vi")
	}
	for _, n := range names {
		if strings.Contains(n, ".wh.") {
			t.Errorf("export holds %s", n)
		}
	}

	checkError(t, runWith(t, opts{}, s.args([]string{"rmi", "busybox"})...), []string{"rmi busybox"})
	if out := s.mustRun(t, "rm", "c1"); out != "c1\n" {
		t.Errorf("rm: %q", out)
	}
	if out := s.mustRun(t, "ps", "-aq"); out != "" || len(s.containers(t)) != 0 {
		t.Errorf("after rm: ps %q, dirs %v", out, s.containers(t))
	}
	msg = checkError(t, runWith(t, opts{}, s.args([]string{"rm", "c1"})...), []string{"rm c1"})
	if msg != "No such container: c1" {
		t.Errorf("rm again: %q", msg)
	}
}

func tarNames(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range tarHeaders(t, b) {
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
	return names
}

// TestContainerRmRunning: rm refuses a running container; rm -f kills it,
// and lfs run exits with 137 having unmounted everything.
func TestContainerRmRunning(t *testing.T) {
	s := runStore(t)
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--name", "long", "busybox", "sleep", "60"})...)
	cmd.Env = baseEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, func() bool {
		return strings.Contains(s.mustRun(t, "ps", "--format", "{{.Names}} {{.Status}}"), "long Up ")
	})
	msg := checkError(t, runWith(t, opts{}, s.args([]string{"rm", "long"})...), []string{"rm long"})
	if !strings.Contains(msg, "You cannot remove a running container") {
		t.Errorf("rm running: %q", msg)
	}
	s.mustRun(t, "rm", "-f", "long")
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
			t.Errorf("lfs run after rm -f: %v, want exit 137", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("lfs run still running 30s after rm -f")
	}
	if out := s.mustRun(t, "ps", "-aq"); out != "" || len(s.containers(t)) != 0 {
		t.Errorf("after rm -f: ps %q, dirs %v", out, s.containers(t))
	}
}

// TestContainerMountCommit: an image mount without --upper is a container:
// mount, write, unmount, diff, commit, run the result.
func TestContainerMountCommit(t *testing.T) {
	s := runStore(t)
	mp := filepath.Join(t.TempDir(), "mnt")
	os.MkdirAll(mp, 0o755)
	unmountLater(t, mp)
	out := s.mustRun(t, "mount", "-d", "busybox", mp)
	m := regexp.MustCompile(`(?m)^container: ([0-9a-f]{64})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("mount printed no container ID:\n%s", out)
	}
	id := m[1]
	if err := os.WriteFile(filepath.Join(mp, "etc", "fromhost"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mp, "bin", "vi")); err != nil {
		t.Fatal(err)
	}
	if ps := s.mustRun(t, "ps", "--format", "{{.ID}} {{.Status}}"); !strings.HasPrefix(ps, id[:12]+" Mounted ") {
		t.Errorf("ps while mounted: %q", ps)
	}
	checkError(t, runWith(t, opts{}, s.args([]string{"rm", id})...), []string{"rm mounted"})
	s.mustRun(t, "umount", mp)
	if out := s.mustRun(t, "diff", id); out != "C /bin\nD /bin/vi\nC /etc\nA /etc/fromhost\n" {
		t.Errorf("diff after mount:\n%s", out)
	}
	s.mustRun(t, "commit", id, "mounted:1")
	if out := s.mustRun(t, "run", "--rm", "mounted:1", "sh", "-c", "cat /etc/fromhost; test -e /bin/vi || echo gone"); out != "host\ngone\n" {
		t.Errorf("run of the commit: %q", out)
	}
	waitFor(t, func() bool {
		return strings.Contains(s.mustRun(t, "ps", "-a", "--format", "{{.ID}} {{.Status}}"), id[:12]+" Created")
	})
	s.mustRun(t, "rm", id)
}

// TestContainerCreateStart: create records a container that start runs,
// and runs again on the same writable layer; inspect shows it.
func TestContainerCreateStart(t *testing.T) {
	s := runStore(t)
	id := strings.TrimSpace(s.mustRun(t, "create", "--name", "cr", "-e", "X=x", "busybox", "sh", "-c", "echo $X >> /root/log; wc -l < /root/log; exit 4"))
	if out := s.mustRun(t, "ps", "-a", "--format", "{{.ID}} {{.Status}} {{.Names}}"); out != id[:12]+" Created cr\n" {
		t.Errorf("ps -a after create: %q", out)
	}
	for i, args := range [][]string{{"start", "cr"}, {"start", "-a", id[:8]}} {
		out, stderr, code := s.run(t, args...)
		if strings.TrimSpace(out) != string(rune('1'+i)) || code != 4 {
			t.Errorf("lfs %v: %q, exit %d, %s", args, out, code, stderr)
		}
	}
	out := s.mustRun(t, "inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.Path}} {{.Config.Env}}", "cr")
	if !strings.HasPrefix(out, "/cr exited 4 sh [") || !strings.Contains(out, "X=x") {
		t.Errorf("inspect: %q", out)
	}
	if out := s.mustRun(t, "diff", "cr"); out != "C /root\nA /root/log\n" {
		t.Errorf("diff: %q", out)
	}
	s.mustRun(t, "run", "--rm", "busybox", "true")
	if out := s.mustRun(t, "ps", "-aq"); out != id[:12]+"\n" {
		t.Errorf("run --rm left a record: %q", out)
	}
	s.mustRun(t, "rm", "cr")
}

// TestContainerPsFilters: ps --filter, -n, -l and -s as docker reads them.
func TestContainerPsFilters(t *testing.T) {
	s := runStore(t)
	s.run(t, "run", "--name", "ex3", "busybox", "sh", "-c", "exit 3")
	s.mustRun(t, "run", "--name", "ok0", "busybox", "sh", "-c", "echo 12345 > /f")
	s.mustRun(t, "create", "--name", "made", "busybox", "true")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "-f", "status=exited"}, "ok0 ex3"},
		{[]string{"-a", "-f", "exited=3"}, "ex3"},
		{[]string{"-a", "-f", "status=created"}, "made"},
		{[]string{"-a", "-f", "name=ok", "-f", "name=ex"}, "ok0 ex3"},
		{[]string{"-a", "-f", "ancestor=busybox", "-f", "status=exited", "-f", "exited=0"}, "ok0"},
		{[]string{"-n", "2"}, "made ok0"},
		{[]string{"-l"}, "made"},
		{[]string{"-f", "status=exited"}, ""}, // without -a only running ones
	} {
		out := s.mustRun(t, append(append([]string{"ps"}, tc.args...), "--format", "{{.Names}}")...)
		if got := strings.Join(strings.Fields(out), " "); got != tc.want {
			t.Errorf("ps %v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if out := s.mustRun(t, "ps", "-a", "-s", "-f", "name=ok0", "--format", "{{.Size}}"); out != "6B\n" {
		t.Errorf("ps -s: %q (the upper holds /f and the empty /etc bind targets)", out)
	}
	checkError(t, runWith(t, opts{}, s.args([]string{"ps", "-f", "color=red"})...), []string{"ps -f color=red"})
}
