package sandbox

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This test binary is the child too: the package's init guard catches
// InitArg in any binary that links sandbox, so Start re-executes the test
// binary itself (/proc/self/exe), as runc's integration tests do.

// busyboxRoot makes a plain-directory rootfs with the host's static
// busybox, or skips.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child makes namespaces and mounts")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("needs /bin/busybox (busybox-static)")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for _, d := range []string{"bin", "etc"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "sleep", "hostname", "id", "cat", "ls", "grep", "touch", "tty", "stty", "head", "wc", "stat", "readlink", "mkdir", "test"} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	return root
}

func run(t *testing.T, spec Spec) (string, int, error) {
	t.Helper()
	var out bytes.Buffer
	p, err := Start(spec, Stdio{Stdout: &out, Stderr: &out})
	if err != nil {
		return "", 0, err
	}
	code, err := p.Wait()
	return out.String(), code, err
}

func TestStartPlainDir(t *testing.T) {
	root := busyboxRoot(t)
	etc := t.TempDir()
	files, err := WriteEtc(etc, "box", []byte("127.0.0.1\tlocalhost\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Rootfs: root, Args: []string{"sh", "-c", "echo $$ $(hostname) $HOME $(cat /etc/hostname) $PWD; exit 3"},
		Env: []string{"PATH=/bin"}, Cwd: "/made/here", Hostname: "box", Network: NetworkNone, Etc: files}
	out, code, err := run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "1 box /root box /made/here\n"; out != want || code != 3 {
		t.Errorf("got %q, exit %d; want %q, exit 3", out, code, want)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/hostname")); err != nil {
		t.Errorf("the bind target /etc/hostname was not made in the rootfs: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); len(data) != 0 {
		t.Errorf("the container's /etc/hostname was written through to the rootfs: %q", data)
	}
}

func TestStartExecErrors(t *testing.T) {
	root := busyboxRoot(t)
	for _, tc := range []struct {
		init bool
		cmd  string
		code int
		msg  string
	}{
		{false, "nosuch", 127, `exec: "nosuch": executable file not found in $PATH`},
		{false, "/etc/passwd", 126, `exec: "/etc/passwd": permission denied`},
		{true, "nosuch", 127, `exec: "nosuch": executable file not found in $PATH`},
		{true, "/etc", 126, `exec: "/etc": is a directory`},
	} {
		_, _, err := run(t, Spec{Rootfs: root, Args: []string{tc.cmd}, Env: []string{"PATH=/bin"}, Cwd: "/", Init: tc.init})
		var ee *ExecError
		if !errors.As(err, &ee) || ee.Code != tc.code || ee.Msg != tc.msg {
			t.Errorf("init=%v %s: err = %v, want ExecError %d %q", tc.init, tc.cmd, err, tc.code, tc.msg)
		}
	}
	// A failure of lfs's own, not the command's.
	_, _, err := run(t, Spec{Rootfs: root, Args: []string{"sh"}, Env: []string{"PATH=/bin"}, Cwd: "/", User: "nosuch"})
	var ee *ExecError
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown user: err = %v, want a plain error naming the user", err)
	}
}

// TestInitForwards: with Init, a SIGTERM to the container reaches a
// command that has no handler (PID 1 would ignore it), and the status is
// 128+15.
func TestInitForwards(t *testing.T) {
	root := busyboxRoot(t)
	p, err := Start(Spec{Rootfs: root, Args: []string{"sleep", "100"}, Env: []string{"PATH=/bin"}, Cwd: "/", Init: true}, Stdio{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p.Signal(syscall.SIGTERM)
	code, err := p.Wait()
	if err != nil || code != 143 {
		t.Errorf("exit %d, %v; want 143", code, err)
	}
}

// TestStartHardening: docker's capabilities (14 in the bounding,
// effective and permitted sets of root, none for another uid, none
// inheritable or ambient), a cgroup namespace, masked and read-only
// paths, private mount propagation, and no descriptor but 0-2 even when
// the caller holds one open without close-on-exec.
func TestStartHardening(t *testing.T) {
	root := busyboxRoot(t)
	fd, err := syscall.Open("/etc/hostname", syscall.O_RDONLY, 0) // inheritable
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	script := `grep ^Cap /proc/self/status; grep -c . /proc/self/cgroup; grep -c ':/$' /proc/self/cgroup;
cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; ls /sys/firmware | wc -l; touch /proc/sys/kernel/x 2>/dev/null || echo ro;
grep -c shared: /proc/self/mountinfo; ls /proc/$$/fd; true`
	out, code, err := run(t, Spec{Rootfs: root, Args: []string{"sh", "-c", script}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	mask := "00000000a80425fb" // docker's 14
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"CapInh:\t0000000000000000", "CapPrm:\t" + mask, "CapEff:\t" + mask, "CapBnd:\t" + mask,
		"CapAmb:\t0000000000000000"}
	if len(lines) < 13 || strings.Join(lines[:5], "\n") != strings.Join(want, "\n") {
		t.Fatalf("capabilities of root:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	// cgroup v1 hybrid or v2: every line's path is the namespace's root.
	if lines[5] != lines[6] {
		t.Errorf("cgroup paths not all / (%s of %s lines):\n%s", lines[6], lines[5], out)
	}
	if got := lines[7:11]; strings.Join(got, " ") != "0 0 ro 0" {
		t.Errorf("masked kcore+keys bytes, /sys/firmware entries, /proc/sys write, shared mounts: %v", got)
	}
	if got := strings.Join(lines[11:], " "); got != "0 1 2" {
		t.Errorf("descriptors of the command: %q, want 0 1 2", got)
	}
	out, _, err = run(t, Spec{Rootfs: root, Args: []string{"sh", "-c", "grep ^Cap /proc/self/status"}, Env: []string{"PATH=/bin"}, Cwd: "/", User: "1000"})
	if err != nil || !strings.Contains(out, "CapEff:\t0000000000000000") || !strings.Contains(out, "CapBnd:\t"+mask) {
		t.Errorf("capabilities of uid 1000: %v\n%s", err, out)
	}
	caps, err := AdjustCapabilities([]string{"sys_admin"}, []string{"CAP_NET_RAW", "mknod"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, Spec{Rootfs: root, Args: []string{"grep", "^CapEff", "/proc/self/status"}, Env: []string{"PATH=/bin"}, Cwd: "/", Capabilities: caps})
	if err != nil || out != "CapEff:\t00000000a02405fb\n" {
		t.Errorf("adjusted capabilities: %v %q", err, out)
	}
}

// TestStartMounts: binds (read-only and not), tmpfs with options, a
// read-only root filesystem, and a target reached through a symlink in the
// image, which resolves inside the container.
func TestStartMounts(t *testing.T) {
	root := busyboxRoot(t)
	os.Symlink("/etc", filepath.Join(root, "link"))
	src, ro := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "f"), []byte("ro\n"), 0o644)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("file\n"), 0o644)
	spec := Spec{Rootfs: root, Env: []string{"PATH=/bin"}, Cwd: "/", ReadOnly: true, Mounts: []Mount{
		{Type: "bind", Source: src, Target: "/data"},
		{Type: "bind", Source: ro, Target: "/data/ro", ReadOnly: true},
		{Type: "bind", Source: file, Target: "/link/file"},
		{Type: "tmpfs", Target: "/scratch", Options: []string{"mode=1770", "size=1m"}},
	}, Args: []string{"sh", "-c", `echo w > /data/new; cat /data/ro/f; touch /data/ro/x 2>/dev/null || echo ro-bind;
cat /etc/file; stat -c %a /scratch; echo t > /scratch/t && cat /scratch/t; touch /x 2>/dev/null || echo ro-root`}}
	out, code, err := run(t, spec)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if want := "ro\nro-bind\nfile\n1770\nt\nro-root\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "new")); string(b) != "w\n" {
		t.Errorf("write through the bind: %q", b)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "file")); err != nil {
		t.Errorf("the target behind /link was not made in the rootfs: %v", err)
	}
	spec.Mounts = []Mount{{Type: "tmpfs", Target: "/t", Options: []string{"bogus"}}}
	if _, _, err := run(t, spec); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("bad tmpfs option: %v", err)
	}
}

// TestStartTerminal: with Terminal the command has a pty of the
// container's devpts, of the size asked, as its controlling terminal
// and /dev/console; output comes through the pty (CR LF).
func TestStartTerminal(t *testing.T) {
	root := busyboxRoot(t)
	var out, stderr bytes.Buffer
	p, err := Start(Spec{Rootfs: root, Args: []string{"sh", "-c", "tty; stty size; readlink /proc/self/fd/2; test -c /dev/console && echo console; cat"},
		Env: []string{"PATH=/bin"}, Cwd: "/", Terminal: true, ConsoleSize: &WinSize{Rows: 33, Cols: 101}},
		Stdio{Stdin: strings.NewReader("typed\n\x04"), Stdout: &out, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %q", code, err, out.String())
	}
	// The pty echoes what is typed whenever it comes, maybe between two
	// lines of the script; cat prints it again.
	echoed := strings.Replace(out.String(), "typed\r\n", "", 1)
	if want := "/dev/pts/0\r\n33 101\r\n/dev/pts/0\r\nconsole\r\n"; !strings.Contains(echoed, want) ||
		strings.Count(out.String(), "typed\r\n") != 2 {
		t.Errorf("got %q, want %q and typed twice", out.String(), want)
	}
}
